/**
 * Each registered service as its own operation in the OpenAPI description: `POST
 * /services/<name>/tasks` with the service's input schema as its typed body, so that a client
 * generator makes one typed call per script. Pure: the registry's services in, paths and
 * component schemas out.
 */
import { createInputValidator } from '../core/index.ts';
import type { AnnouncedService } from '../core/index.ts';

type Json = Record<string, unknown>;

export interface ServiceOperations {
  paths: Record<string, Json>;
  schemas: Record<string, Json>;
}

/** `my-service.v2` → `MyServiceV2`: a name every generator can turn into a type and a method. */
function identifierOf(name: string): string {
  const joined = name.split(/[^A-Za-z0-9]+/).filter(Boolean).map((part) => part[0]!.toUpperCase() + part.slice(1)).join('');
  return /^[0-9]/.test(joined) ? `Service${joined}` : joined;
}

/**
 * A service's schema placed at `at` in the document: its own `#...` references now point inside
 * it, and its `$id` and `$schema` go (under an `$id` they would resolve elsewhere; the document's
 * dialect is JSON Schema 2020-12).
 */
function embedded(schema: unknown, at: string, root = true): unknown {
  if (Array.isArray(schema)) return schema.map((item) => embedded(item, at, false));
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (root && (key === '$id' || key === '$schema')) continue;
    out[key] = key === '$ref' && typeof value === 'string' && value.startsWith('#') ? `${at}${value.slice(1)}` : embedded(value, at, false);
  }
  return out;
}

function bodyOf(definition: AnnouncedService, schemaName: string, schemas: Record<string, Json>): Json {
  const { inputSchema } = definition;
  const compiled = inputSchema ? createInputValidator(inputSchema) : undefined;
  let schema: Json;
  if (!inputSchema) {
    schema = { description: `The service declares no input schema: any JSON.` };
  } else if (compiled && 'problem' in compiled) {
    // Errand does not check inputs against a schema it cannot compile, so neither does the description.
    schema = { description: `Any JSON: the service's input schema does not compile (${compiled.problem}).` };
  } else {
    schemas[schemaName] = embedded(inputSchema, `#/components/schemas/${schemaName}`) as Json;
    schema = { $ref: `#/components/schemas/${schemaName}` };
  }
  return {
    description: `The task's input for ${definition.name}.`,
    content: { 'application/json': { schema, ...(definition.example ? { example: definition.example.value } : {}) } },
  };
}

/**
 * One operation per service, made from `template` (the generic `POST /services/{name}/tasks`):
 * its query parameters and answers, the service's name fixed in the path, its schema as the body.
 */
export function serviceOperations(definitions: AnnouncedService[], template: Json): ServiceOperations {
  const paths: Record<string, Json> = {};
  const schemas: Record<string, Json> = {};
  const used = new Set<string>();
  const parameters = ((template.parameters as Json[] | undefined) ?? []).filter((p) => p.in !== 'path');
  for (const definition of definitions) {
    let id = identifierOf(definition.name);
    for (let n = 2; used.has(id); n++) id = `${identifierOf(definition.name)}_${n}`;
    used.add(id);
    const about = [definition.description, definition.docs].filter((text) => text).join('\n\n');
    paths[`/services/${definition.name}/tasks`] = {
      post: {
        ...template,
        operationId: `submit${id}`,
        summary: `Submit a task to ${definition.name} (version ${definition.version})`,
        description: `${about}${about ? '\n\n' : ''}The same as \`POST /task?service=${definition.name}\`.`,
        tags: ['services'],
        parameters,
        requestBody: bodyOf(definition, `${id}Input`, schemas),
      },
    };
  }
  return { paths, schemas };
}
