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
    value: { description: 'The value.', format: 'password', maxLength: 65536, title: 'Value', type: 'string', 'x-codeforge-secret-if': 'secret' },
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

// Output schemas. Secret output fields carry `x-codeforge-secret: true`.
const SECRET = { 'x-codeforge-secret': true };

export const ENV_VALUE_OUT: JsonSchema = {
  properties: { name: { title: 'Name', type: 'string' }, value: { title: 'Value', type: 'string', ...SECRET } },
  required: ['name', 'value'],
  title: 'EnvValue',
  type: 'object',
};

export const ENV_LIST_OUT: JsonSchema = {
  $defs: {
    EnvVariable: {
      properties: {
        name: { title: 'Name', type: 'string' },
        secret: { title: 'Secret', type: 'boolean' },
        value: { anyOf: [{ type: 'string' }, { type: 'null' }], description: 'The value; null for secrets (use `env reveal`).', title: 'Value' },
        updated_at: { format: 'date-time', title: 'Updated At', type: 'string' },
        updated_by: { title: 'Updated By', type: 'string' },
      },
      required: ['name', 'secret', 'value', 'updated_at', 'updated_by'],
      title: 'EnvVariable',
      type: 'object',
    },
  },
  properties: { items: { items: { $ref: '#/$defs/EnvVariable' }, title: 'Items', type: 'array' } },
  required: ['items'],
  title: 'EnvList',
  type: 'object',
};

export const DATABASE_URLS_OUT: JsonSchema = {
  properties: {
    name: { title: 'Name', type: 'string' },
    url: { title: 'Url', type: 'string', ...SECRET },
    pooled_url: { anyOf: [{ type: 'string' }, { type: 'null' }], title: 'Pooled Url', ...SECRET },
    pooling: { description: 'Why there is no pooled URL, when there is none.', title: 'Pooling', type: 'string' },
  },
  required: ['name', 'url', 'pooled_url', 'pooling'],
  title: 'DatabaseUrls',
  type: 'object',
};

export const TOKEN_CREATED_OUT: JsonSchema = {
  properties: {
    id: { title: 'Id', type: 'string' },
    name: { title: 'Name', type: 'string' },
    token: { description: 'Shown once: store it now, the platform keeps only its hash.', title: 'Token', type: 'string', ...SECRET },
    expires_at: { anyOf: [{ format: 'date-time', type: 'string' }, { type: 'null' }], title: 'Expires At' },
  },
  required: ['id', 'name', 'token', 'expires_at'],
  title: 'TokenCreated',
  type: 'object',
};

export const PANE_LINK_OUT: JsonSchema = {
  properties: {
    title: { title: 'Title', type: 'string' },
    url: { description: 'Signed link, valid until expires_at; add &format=text for plain text.', title: 'Url', type: 'string' },
    expires_at: { format: 'date-time', title: 'Expires At', type: 'string' },
  },
  required: ['title', 'url', 'expires_at'],
  title: 'PaneLink',
  type: 'object',
  'x-codeforge-pane': true,
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
