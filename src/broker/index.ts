export type { Broker, Delivery, DeliveryHandler, Disposition, MessageProperties, QueueStats, SendOptions, StatusFeed, Subscription } from './broker.ts';
export { topicMatches, Channels, channelExchange } from './broker.ts';
export type { Channel } from './broker.ts';
export { createMemoryBroker } from './memory/index.ts';
export { connectAmqp } from './amqp/index.ts';
export { createEventPublisher } from './event-publisher.ts';
export type { EventPublisher } from './event-publisher.ts';
export { requeueTask, sendTask } from './task-messages.ts';
export type { TaskMessage } from './task-messages.ts';
