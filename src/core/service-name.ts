/**
 * A service name is also its queue's name, so it must be a name RabbitMQ accepts and that cannot
 * collide with Errand's own queues and exchanges (Patavi let any string through and a bad one
 * closed the server's only channel).
 */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const RESERVED = /^(amq\.|errand\.|rpc_result$|rpc_status$)/;

/** Both rules as one pattern, for JSON Schemas (route schemas, the OpenAPI description). */
export const SERVICE_NAME_PATTERN = '^(?!amq\\.|errand\\.|rpc_result$|rpc_status$)[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$';
export const SERVICE_NAME_RULE = '1-128 characters: letters, digits, "_", "-" and ".", starting with a letter or digit; not amq.*, errand.*, rpc_result or rpc_status';

/** Why the name is not a valid service name, or undefined when it is. */
export function serviceNameProblem(name: string): string | undefined {
  if (!SERVICE_NAME.test(name)) {
    return 'service must be 1-128 characters: letters, digits, "_", "-" and ".", starting with a letter or digit';
  }
  if (RESERVED.test(name)) return `service name ${JSON.stringify(name)} is reserved`;
  return undefined;
}
