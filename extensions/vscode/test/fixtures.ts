// Input schemas exactly as the platform's catalog gives them (pydantic 2 output), copied from
// `describe_catalog()`; the pytest wrapper also runs these tests over the live catalog
// (CODEFORGE_CATALOG_JSON) so a schema shape added later is covered too.
import type { Operation } from '../src/prompt';
import type { JsonSchema } from '../src/schema';

const PROJECT = {
  description: 'Project slug; editors and the CLI fill it from codeforge.yaml or the login.',
  maxLength: 63,
  minLength: 1,
  title: 'Project',
  type: 'string',
  'x-codeforge-context': 'project',
};

export const ENV_SET: JsonSchema = {
  additionalProperties: false,
  properties: {
    project: PROJECT,
    name: {
      description: 'Variable name: letters, digits and underscores, not starting with a digit.',
      pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$',
      title: 'Name',
      type: 'string',
    },
    value: { description: 'The value.', format: 'password', maxLength: 65536, title: 'Value', type: 'string' },
    secret: { default: false, description: 'Encrypted, never listed, readable only with `env reveal`.', title: 'Secret', type: 'boolean' },
  },
  required: ['project', 'name', 'value'],
  title: 'EnvSetInput',
  type: 'object',
};

export const ENV_IMPORT: JsonSchema = {
  additionalProperties: false,
  properties: {
    project: PROJECT,
    content: {
      description: 'Text of a .env file.',
      maxLength: 40,
      title: 'Content',
      type: 'string',
      'x-codeforge-file': '.env',
    },
    secret: { default: false, title: 'Secret', type: 'boolean' },
  },
  required: ['project', 'content'],
  type: 'object',
};

export const JOBS_LIST: JsonSchema = {
  $defs: { JobState: { enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'], title: 'JobState', type: 'string' } },
  additionalProperties: false,
  properties: {
    project: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null, description: "Only this project's jobs.", title: 'Project' },
    state: { anyOf: [{ $ref: '#/$defs/JobState' }, { type: 'null' }], default: null },
    limit: { default: 50, maximum: 500, minimum: 1, title: 'Limit', type: 'integer' },
  },
  title: 'JobListInput',
  type: 'object',
};

export const MEMBERS_ADD: JsonSchema = {
  $defs: { Role: { enum: ['viewer', 'developer', 'admin', 'owner'], title: 'Role', type: 'string' } },
  additionalProperties: false,
  properties: {
    username: { description: 'Login name, unique in the platform.', pattern: '^[a-z0-9][a-z0-9._-]{0,62}$', title: 'Username', type: 'string' },
    role: { $ref: '#/$defs/Role', default: 'developer', description: 'What the member may do.' },
  },
  required: ['username'],
  type: 'object',
};

export const TOKENS_CREATE: JsonSchema = {
  additionalProperties: false,
  properties: {
    name: { description: 'What the token is for.', maxLength: 100, minLength: 1, title: 'Name', type: 'string' },
    expires_in_days: {
      anyOf: [{ maximum: 3650, minimum: 1, type: 'integer' }, { type: 'null' }],
      default: 90,
      description: 'Days until it expires; null for never.',
      title: 'Expires In Days',
    },
    username: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null, title: 'Username' },
  },
  required: ['name'],
  type: 'object',
};

export function op(name: string, input_schema: JsonSchema, extra: Partial<Operation> = {}): Operation {
  return {
    name,
    title: `Run ${name}`,
    capability: name.split('.')[0],
    command: `codeforge.${name}`,
    long_running: false,
    destructive: false,
    lists_resources: false,
    input_schema,
    ...extra,
  };
}
