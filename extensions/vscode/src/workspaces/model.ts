// The Workspaces view's rules, free of `vscode` (unit-testable): the rows read from
// workspaces.list and workspaces.snapshots, the tree they make (each workspace with its
// snapshots as children; snapshots of deleted workspaces under one group), what a row shows,
// which actions it offers and the operation each runs, and the bridge a switch goes to.
//
// Secrets: a workspace's environment is never part of these outputs (the catalog's outputs hold
// no `env`), but an `error`, a note or a URL may quote a database URL: every text shown goes
// through maskUrlPasswords, and `create` never asks for the environment (see forCreate).
import type { Operation } from '../prompt';
import { parseRemoteUrl } from '../remote';
import { maskUrlPasswords } from '../secrets';

export const LIST = 'workspaces.list';
export const SNAPSHOTS = 'workspaces.snapshots';
export const CREATE = 'workspaces.create';
export const CONNECT = 'workspaces.connect';

export interface PortRow {
  service: string;
  inside: number;
  host: number;
  url: string;
}

export interface WorkspaceRow {
  name: string;
  state: string;
  runtime: string;
  template: string;
  files: string;
  isolation: string;
  ports: PortRow[];
  databases: string[];
  bridgeUrl: string;
  error: string;
  notes: string[];
  createdAt: string;
  createdBy: string;
}

export interface SnapshotRow {
  name: string;
  /** The workspace it was taken of; '' once that is deleted. */
  workspace: string;
  processes: string;
  missing: string[];
  createdAt: string;
  createdBy: string;
}

export type WorkspaceNode =
  | { kind: 'workspace'; workspace: WorkspaceRow; snapshots: SnapshotRow[]; current: boolean }
  | { kind: 'snapshot'; snapshot: SnapshotRow }
  /** Snapshots whose workspace is gone (they outlive it). */
  | { kind: 'orphans'; snapshots: SnapshotRow[] }
  | { kind: 'note'; text: string; tooltip: string };

function text(value: unknown): string {
  return typeof value === 'string' ? maskUrlPasswords(value) : '';
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function itemsOf(result: unknown): Record<string, unknown>[] {
  const items = record(result)?.['items'];
  return Array.isArray(items) ? items.map(record).filter((i): i is Record<string, unknown> => i !== undefined) : [];
}

function ports(value: unknown): PortRow[] {
  if (!Array.isArray(value)) {
    return [];
  }
  return value
    .map(record)
    .filter((p): p is Record<string, unknown> => p !== undefined && typeof p['host'] === 'number')
    .map((p) => ({ service: text(p['service']), inside: typeof p['inside'] === 'number' ? p['inside'] : 0, host: p['host'] as number, url: text(p['url']) }));
}

/** workspaces.list's answer as rows (an item without a string name is left out). */
export function parseWorkspaces(result: unknown): WorkspaceRow[] {
  return itemsOf(result)
    .filter((i) => typeof i['name'] === 'string' && i['name'] !== '')
    .map((i) => ({
      name: i['name'] as string,
      state: text(i['state']) || 'unknown',
      runtime: text(i['runtime']),
      template: text(i['template']),
      files: text(i['files']),
      isolation: text(i['isolation']),
      ports: ports(i['ports']),
      databases: Array.isArray(i['databases']) ? i['databases'].map((d) => text(record(d)?.['database'])).filter(Boolean) : [],
      bridgeUrl: text(i['bridge_url']),
      error: text(i['error']),
      notes: Array.isArray(i['notes']) ? i['notes'].map(text).filter(Boolean) : [],
      createdAt: text(i['created_at']),
      createdBy: text(i['created_by']),
    }));
}

/** workspaces.snapshots's answer as rows, newest first. */
export function parseSnapshots(result: unknown): SnapshotRow[] {
  return itemsOf(result)
    .filter((i) => typeof i['name'] === 'string' && i['name'] !== '')
    .map((i) => ({
      name: i['name'] as string,
      workspace: text(i['workspace']),
      processes: text(i['processes']),
      missing: Array.isArray(i['missing']) ? i['missing'].map(text).filter(Boolean) : [],
      createdAt: text(i['created_at']),
      createdBy: text(i['created_by']),
    }))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.name.localeCompare(b.name));
}

/** The bridge URL as `codeforge.remote.url` holds it (normalised), or '' when it is not one. */
export function normalBridgeUrl(url: string): string {
  return url ? (parseRemoteUrl(url).url ?? '') : '';
}

/** The workspace the editor is connected to: its bridge is the remote URL in use, or it is the
 * one last switched to and the remote URL is still the one that switch set. */
export function isCurrent(workspace: WorkspaceRow, remoteUrl: string, switched: { name: string; url: string } | undefined): boolean {
  const remote = normalBridgeUrl(remoteUrl);
  if (!remote) {
    return false;
  }
  if (workspace.bridgeUrl && normalBridgeUrl(workspace.bridgeUrl) === remote) {
    return true;
  }
  return switched !== undefined && switched.name === workspace.name && normalBridgeUrl(switched.url) === remote;
}

/** The view's rows: workspaces by name, each with its snapshots; then the orphaned snapshots. */
export function buildTree(workspaces: WorkspaceRow[], snapshots: SnapshotRow[], remoteUrl = '', switched?: { name: string; url: string }): WorkspaceNode[] {
  if (workspaces.length === 0 && snapshots.length === 0) {
    return [{ kind: 'note', text: 'No workspace yet', tooltip: 'Create one with the + button (CodeForge: Create Workspace).' }];
  }
  const names = new Set(workspaces.map((w) => w.name));
  const nodes: WorkspaceNode[] = [...workspaces]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((workspace) => ({
      kind: 'workspace',
      workspace,
      snapshots: snapshots.filter((s) => s.workspace === workspace.name),
      current: isCurrent(workspace, remoteUrl, switched),
    }));
  const orphans = snapshots.filter((s) => !names.has(s.workspace));
  if (orphans.length > 0) {
    nodes.push({ kind: 'orphans', snapshots: orphans });
  }
  return nodes;
}

export interface RowView {
  label: string;
  description: string;
  tooltip: string;
  /** The tree item's contextValue: what package.json's menus offer on it. */
  contextValue: string;
  icon: string;
}

/** A workspace row: its name; state and runtime (and "current") beside it; the rest on hover. */
export function workspaceView(node: { workspace: WorkspaceRow; current: boolean }): RowView {
  const w = node.workspace;
  const description = [w.state, w.runtime, node.current ? 'current' : ''].filter(Boolean).join(' · ');
  const lines = [
    `${w.name}: ${w.state}${w.runtime ? ` (${w.runtime})` : ''}`,
    w.template ? `template: ${w.template}` : '',
    w.files ? `files: ${w.files}` : '',
    w.isolation ? `isolation: ${w.isolation}` : '',
    ...w.ports.map((p) => `port ${p.service} ${p.inside} → ${p.url || `localhost:${p.host}`}`),
    w.databases.length ? `databases: ${w.databases.join(', ')}` : '',
    w.error ? `error: ${w.error}` : '',
    ...w.notes.map((n) => `note: ${n}`),
    w.createdAt ? `created ${w.createdAt}${w.createdBy ? ` by ${w.createdBy}` : ''}` : '',
  ].filter(Boolean);
  const icon = node.current ? 'remote' : w.state === 'running' ? 'vm-running' : w.state === 'failed' ? 'error' : w.state === 'stopped' ? 'vm-outline' : 'vm';
  return { label: w.name, description, tooltip: lines.join('\n'), contextValue: `codeforge.workspace.${contextState(w.state)}`, icon };
}

/** Menus tell states apart: running (stop), stopped or failed (start), anything else (busy). */
function contextState(state: string): string {
  return ['running', 'stopped', 'failed'].includes(state) ? state : 'busy';
}

export function snapshotView(snapshot: SnapshotRow): RowView {
  const lines = [
    `snapshot ${snapshot.name}${snapshot.workspace ? ` of ${snapshot.workspace}` : ' (its workspace is deleted)'}`,
    snapshot.processes ? `processes: ${snapshot.processes}` : '',
    ...snapshot.missing.map((m) => `not captured: ${m}`),
    snapshot.createdAt ? `taken ${snapshot.createdAt}${snapshot.createdBy ? ` by ${snapshot.createdBy}` : ''}` : '',
  ].filter(Boolean);
  return { label: snapshot.name, description: snapshot.createdAt.replace('T', ' ').slice(0, 16), tooltip: lines.join('\n'), contextValue: 'codeforge.workspaceSnapshot', icon: 'history' };
}

export type Action = 'start' | 'stop' | 'snapshot' | 'clone' | 'restore' | 'switch' | 'delete' | 'logs';
export const ACTIONS: readonly Action[] = ['start', 'stop', 'snapshot', 'clone', 'restore', 'switch', 'delete', 'logs'];

/** The operation an action runs on a row, with what the row gives; undefined when it does not
 * apply there (restore on a workspace, start on a snapshot). */
export function actionCall(action: Action, node: WorkspaceNode): { op: string; given: Record<string, unknown> } | undefined {
  if (node.kind === 'workspace') {
    const name = node.workspace.name;
    switch (action) {
      case 'start':
      case 'stop':
      case 'snapshot':
      case 'delete':
      case 'logs':
        return { op: `workspaces.${action}`, given: { name } };
      case 'clone':
        return { op: 'workspaces.clone', given: { source: name } };
      case 'switch':
        return { op: CONNECT, given: { name } };
      case 'restore':
        return undefined;
    }
  }
  if (node.kind === 'snapshot') {
    const snapshot = node.snapshot.name;
    switch (action) {
      case 'restore':
        return { op: 'workspaces.restore', given: { snapshot } };
      case 'clone':
        return { op: 'workspaces.clone', given: { source: snapshot } };
      case 'delete':
        return { op: 'workspaces.delete_snapshot', given: { snapshot } };
      default:
        return undefined;
    }
  }
  return undefined;
}

/** The view's `create` asks for the name, template and runtime only: never `env` (a
 * workspace's variables may be secrets, database URLs and tokens, which the catalog does not
 * mark so: the prompts would echo them and the log keep them; they are set with the env
 * operations), and the folder, devcontainer and limits are the palette's "Create a workspace". */
export const CREATE_FIELDS: readonly string[] = ['name', 'template', 'runtime'];

export function forCreate(op: Operation): Operation {
  return { ...op, input_fields: op.input_fields.filter((f) => CREATE_FIELDS.includes(f.name)) };
}

/** Where a switch goes: workspaces.connect's answer read and its bridge URL checked. */
export function switchTarget(result: unknown): { name: string; url: string; folder: string } | { error: string } {
  const r = record(result);
  const name = typeof r?.['name'] === 'string' ? r['name'] : '';
  const given = typeof r?.['bridge_url'] === 'string' ? r['bridge_url'] : '';
  if (!r || !name || !given) {
    return { error: 'the platform answered without a bridge URL for the workspace; is it running? Start it and switch again.' };
  }
  const parsed = parseRemoteUrl(given);
  if (parsed.error !== undefined) {
    return { error: `the workspace's bridge URL is not usable: ${parsed.error}` };
  }
  return { name, url: parsed.url, folder: text(r['folder']) };
}
