// Catalog entries' `input_fields` exactly as the server digests them from pydantic's input schemas
// (codeforge/catalog/prompts.py, checked by tests/test_catalog_prompts.py), copied from
// `describe_catalog()`; env.import keeps two of its fields and a 40-character limit so a test can
// pass it. The pytest wrapper also runs these tests over the live catalog (CODEFORGE_CATALOG_JSON),
// so a field shape added later is covered too.
import type { Operation } from '../src/prompt';
import type { FieldSpec } from '../src/schema';

export type SecretEntry = Pick<Operation, 'output_secrets' | 'reveals' | 'output_schema'>;

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

// Catalog entries' secret outputs, as `describe_catalog()` builds them (codeforge/catalog/secrets.py):
// the paths of secret output fields and whether the operation reveals. A pane link is marked in
// its output schema (codeforge/catalog/panes.py) and lists no secret path.
export const ENV_REVEAL: SecretEntry = { output_secrets: ['value'], reveals: true };
export const ENV_LIST: SecretEntry = { output_secrets: [], reveals: false };
export const DATABASES_REVEAL: SecretEntry = { output_secrets: ['url', 'pooled_url'], reveals: true };
export const TOKENS_CREATED: SecretEntry = { output_secrets: ['token'], reveals: true };
export const PANES_OPEN: SecretEntry = { output_secrets: [], reveals: false, output_schema: { 'x-codeforge-pane': true } };

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
