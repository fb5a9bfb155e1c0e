export type { Broker, Delivery, DeliveryHandler, Disposition, MessageProperties, QueueStats, SendOptions, StatusFeed, Subscription } from './broker.ts';
export { topicMatches } from './broker.ts';
export { createMemoryBroker } from './memory/index.ts';
export { connectAmqp } from './amqp/index.ts';
