// Catalog entries' `input_fields` exactly as the server digests them from pydantic's input schemas
// (codeforge/catalog/prompts.py, checked by tests/test_catalog_prompts.py), copied from
// `describe_catalog()`; env.import keeps two of its fields and a 40-character limit so a test can
// pass it. The pytest wrapper also runs these tests over the live catalog (CODEFORGE_CATALOG_JSON),
// so a field shape added later is covered too.
import type { Operation } from '../src/prompt';
import type { FieldSpec } from '../src/schema';
import type { JsonSchema } from '../src/secrets';

export const ENV_SET: FieldSpec[] = [
  {
    name: 'name',
    title: 'Name',
    description: 'Variable name: letters, digits and underscores, not starting with a digit.',
    kind: 'string',
    required: true,
    nullable: false,
    has_default: false,
    pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$',
    values: 'env.list#name',
  },
  { name: 'value', title: 'Value', description: 'The value.', kind: 'password', required: true, nullable: false, has_default: false, max_length: 65536, secret_if: 'secret' },
  { name: 'secret', title: 'Secret', description: 'Encrypted, never listed, readable only with `env reveal`.', kind: 'boolean', required: false, nullable: false, has_default: true, default: false },
];

export const ENV_IMPORT: FieldSpec[] = [
  { name: 'content', title: 'Content', description: 'Text of a .env file.', kind: 'file', required: true, nullable: false, has_default: false, max_length: 40, file_hint: '.env' },
  { name: 'secret', title: 'Secret', description: '', kind: 'boolean', required: false, nullable: false, has_default: true, default: false },
];

export const JOBS_LIST: FieldSpec[] = [
  { name: 'project', title: 'Project', description: "Only this project's jobs.", kind: 'string', required: false, nullable: true, has_default: true, default: null },
  { name: 'state', title: 'JobState', description: '', kind: 'enum', required: false, nullable: true, has_default: true, default: null, enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
  { name: 'limit', title: 'Limit', description: '', kind: 'integer', required: false, nullable: false, has_default: true, default: 50, minimum: 1, maximum: 500 },
];

export const MEMBERS_ADD: FieldSpec[] = [
  { name: 'username', title: 'Username', description: 'Login name, unique in the platform.', kind: 'string', required: true, nullable: false, has_default: false, pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' },
  { name: 'role', title: 'Role', description: 'What the member may do.', kind: 'enum', required: false, nullable: false, has_default: true, default: 'developer', enum: ['viewer', 'developer', 'admin', 'owner'] },
];

export const TOKENS_CREATE: FieldSpec[] = [
  { name: 'name', title: 'Name', description: 'What the token is for.', kind: 'string', required: true, nullable: false, has_default: false, min_length: 1, max_length: 100 },
  {
    name: 'expires_in_days',
    title: 'Expires In Days',
    description: 'Days until it expires; null for never.',
    kind: 'integer',
    required: false,
    nullable: true,
    has_default: true,
    default: 90,
    minimum: 1,
    maximum: 3650,
  },
  { name: 'username', title: 'Username', description: '', kind: 'string', required: false, nullable: true, has_default: true, default: null },
];

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

export function op(name: string, input_fields: FieldSpec[], extra: Partial<Operation> = {}): Operation {
  return {
    name,
    title: `Run ${name}`,
    capability: name.split('.')[0],
    command: `codeforge.${name}`,
    long_running: false,
    destructive: false,
    lists_resources: false,
    input_fields,
    ...extra,
  };
}
