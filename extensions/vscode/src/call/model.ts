// Calls' rules, free of `vscode` so they are unit tested (docs/voice.md, "Language server
// (editors)"): `codeforge/call/state` checked into typed values, the messages the call webview
// may send (anything else is dropped), what to tell someone whose device the platform forbids
// or lacks, the status bar text and the talking marks of the participant lists, and secrets kept
// out of every message. call/*.ts (the VS Code side) and media/call.js use them.

/** The server's call commands (`workspace/executeCommand`, one object argument). */
export const CALL_COMMANDS = {
  join: 'codeforge.call.join',
  leave: 'codeforge.call.leave',
  mute: 'codeforge.call.mute',
  share: 'codeforge.call.share',
  watch: 'codeforge.call.watch',
  end: 'codeforge.call.end',
  participants: 'codeforge.call.participants',
} as const;
export type CallCommand = (typeof CALL_COMMANDS)[keyof typeof CALL_COMMANDS];

export const CALL_STATE_NOTIFICATION = 'codeforge/call/state';

export const CALL_ROLES = ['driver', 'navigator', 'guest'] as const;
export type CallRole = (typeof CALL_ROLES)[number];
export const SHARE_KINDS = ['screen', 'camera'] as const;
export type ShareKind = (typeof SHARE_KINDS)[number];

export interface CallParticipant {
  username: string;
  name: string;
  color: string;
  role: CallRole;
  host: boolean;
  muted: boolean;
  mutedByHost: boolean;
  talking: boolean;
  sharing: ShareKind | null;
  watching: string | null;
}

export interface CallState {
  session: string;
  state: 'active' | 'ended';
  participants: CallParticipant[];
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function oneOf<T extends string>(values: readonly T[], value: unknown): T | undefined {
  return typeof value === 'string' && (values as readonly string[]).includes(value) ? (value as T) : undefined;
}

/** A colour as `#rrggbb` (it goes into the webview's CSS); anything else is grey. */
export function callColor(color: unknown): string {
  return typeof color === 'string' && /^#[0-9a-fA-F]{6}$/.test(color.trim()) ? color.trim().toLowerCase() : '#888888';
}

function callParticipant(value: unknown): CallParticipant | undefined {
  if (!isObject(value)) return undefined;
  const username = str(value.username);
  if (!username) return undefined;
  return {
    username,
    name: str(value.name) ?? username,
    color: callColor(value.color),
    role: oneOf(CALL_ROLES, value.role) ?? 'guest',
    host: value.host === true,
    muted: value.muted === true,
    mutedByHost: value.muted_by_host === true,
    talking: value.talking === true,
    sharing: oneOf(SHARE_KINDS, value.sharing) ?? null,
    watching: str(value.watching) ?? null,
  };
}

/** A `CallState` (the `call` of a notification or a command's result); null for none or a bad one. */
export function parseCall(value: unknown): CallState | null {
  if (!isObject(value)) return null;
  const session = str(value.session);
  if (!session) return null;
  const participants = Array.isArray(value.participants) ? value.participants.map(callParticipant).filter((p): p is CallParticipant => p !== undefined) : [];
  return { session, state: value.state === 'ended' ? 'ended' : 'active', participants };
}

/** `codeforge/call/state {call}`: the call (null: none), or undefined when it is not one. */
export function parseCallNotification(params: unknown): { call: CallState | null } | undefined {
  if (!isObject(params) || !('call' in params)) return undefined;
  if (params.call === null) return { call: null };
  const call = parseCall(params.call);
  return call ? { call } : undefined;
}

/** `codeforge.call.join`'s result: the answer for the webview's peer connection. */
export function parseJoin(result: unknown): { sdp: string; call: CallState | null } | undefined {
  if (!isObject(result)) return undefined;
  const sdp = str(result.sdp);
  if (!sdp || !/^v=0/.test(sdp)) return undefined;
  return { sdp, call: parseCall(result.call) };
}

export function me(call: CallState | null, username: string | undefined): CallParticipant | undefined {
  return username && call ? call.participants.find((p) => p.username === username) : undefined;
}

// ---- the webview's messages --------------------------------------------------------------

export const DEVICES = ['microphone', 'camera', 'screen'] as const;
export type Device = (typeof DEVICES)[number];

/** Media statistics the webview reads with `getStats` (numbers only). */
export interface CallStats {
  /** The call's audio coming in (the mix of everyone else): bytes, level 0..1, energy. */
  inBytes: number;
  inLevel: number;
  inEnergy: number;
  /** Our microphone going out. */
  outBytes: number;
  /** The share (watch) video coming in: frames decoded. */
  videoFrames: number;
}

export type FromWebview =
  | { type: 'ready' }
  | { type: 'offer'; sdp: string }
  | { type: 'device'; device: Device; error: string }
  | { type: 'mute'; muted: boolean; username?: string }
  | { type: 'share'; kind: ShareKind | null }
  | { type: 'watch'; username: string | null }
  | { type: 'leave' }
  | { type: 'end' }
  | { type: 'rejoin' }
  | { type: 'connection'; state: string }
  | { type: 'stats'; stats: CallStats };

const MAX_SDP = 200_000;

function finite(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

/**
 * A message from the webview, checked: the webview runs page script, so whatever it posts is
 * input like any other (an unknown or malformed message is dropped, never passed on).
 */
export function parseFromWebview(message: unknown): FromWebview | undefined {
  if (!isObject(message)) return undefined;
  switch (message.type) {
    case 'ready':
    case 'leave':
    case 'end':
    case 'rejoin':
      return { type: message.type };
    case 'offer': {
      const sdp = str(message.sdp);
      return sdp && sdp.length <= MAX_SDP ? { type: 'offer', sdp } : undefined;
    }
    case 'device': {
      const device = oneOf(DEVICES, message.device);
      return device ? { type: 'device', device, error: (str(message.error) ?? 'Error').slice(0, 80) } : undefined;
    }
    case 'mute': {
      if (typeof message.muted !== 'boolean') return undefined;
      const username = str(message.username);
      return username ? { type: 'mute', muted: message.muted, username } : { type: 'mute', muted: message.muted };
    }
    case 'share':
      if (message.kind === null) return { type: 'share', kind: null };
      return oneOf(SHARE_KINDS, message.kind) ? { type: 'share', kind: message.kind as ShareKind } : undefined;
    case 'watch':
      if (message.username === null) return { type: 'watch', username: null };
      return str(message.username) ? { type: 'watch', username: message.username as string } : undefined;
    case 'connection':
      return str(message.state) ? { type: 'connection', state: (message.state as string).slice(0, 20) } : undefined;
    case 'stats': {
      if (!isObject(message.stats)) return undefined;
      const s = message.stats;
      return {
        type: 'stats',
        stats: { inBytes: finite(s.inBytes), inLevel: finite(s.inLevel), inEnergy: finite(s.inEnergy), outBytes: finite(s.outBytes), videoFrames: finite(s.videoFrames) },
      };
    }
    default:
      return undefined;
  }
}

/** An ICE server as a browser takes it; only stun:/turn:/turns: URLs, credentials as strings. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/**
 * `iceServers` of a command's result, checked (a browser needs them before it offers, to gather
 * relayed candidates). Anything that is not an ICE server is dropped.
 */
export function parseIceServers(value: unknown): IceServer[] {
  if (!Array.isArray(value)) return [];
  const out: IceServer[] = [];
  for (const raw of value) {
    if (!isObject(raw)) continue;
    const urls = (Array.isArray(raw.urls) ? raw.urls : [raw.urls]).filter((u): u is string => typeof u === 'string' && /^(stun|turns?):[^\s]+$/.test(u));
    if (urls.length === 0) continue;
    const server: IceServer = { urls };
    if (typeof raw.username === 'string') server.username = raw.username;
    if (typeof raw.credential === 'string') server.credential = raw.credential;
    out.push(server);
  }
  return out;
}

/**
 * The call page's Content-Security-Policy: our script only (its nonce), our stylesheet, media
 * from the peer connection's streams; no network (`default-src 'none'`: no fetch, no socket;
 * WebRTC's own connection is not a fetch), nothing inline, no eval.
 */
export function callCsp(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    `img-src ${cspSource}`,
    'media-src mediastream: blob:',
  ].join('; ');
}

// ---- devices -----------------------------------------------------------------------------

const DEVICE_USE: Record<Device, string> = {
  microphone: 'you join the call as a listener (the others cannot hear you)',
  camera: 'your camera is not shared',
  screen: 'your screen is not shared',
};

/** Where the editor runs: in a browser (code-server, vscode.dev) or VS Code's desktop app. */
export type Ui = 'browser' | 'desktop';

/**
 * What to tell someone whose device could not be opened: the device, why (the DOMException's
 * name from getUserMedia/getDisplayMedia) and what to do next. VS Code's desktop app refuses
 * every media permission to extensions' webviews (its Electron permission handler allows them
 * clipboard and notifications only), so there a refusal is the platform's, not the user's.
 */
export function deviceMessage(device: Device, error: string, ui: Ui = 'browser'): string {
  const what = device === 'screen' ? 'Screen capture' : `The ${device}`;
  const consequence = DEVICE_USE[device];
  if (ui === 'desktop' && error !== 'NotFoundError' && error !== 'NotReadableError' && error !== 'InvalidStateError') {
    return `VS Code's desktop app does not let extensions' panels use the ${device === 'screen' ? 'screen' : device} (a rule of the app, not a setting): ${consequence}. Use \`codeforge call\` in a terminal for your ${device === 'screen' ? 'screen share (--share FILE)' : device}, or open this workspace in VS Code in the browser (code-server), which allows it.`;
  }
  switch (error) {
    case 'NotAllowedError':
    case 'SecurityError':
      if (device === 'screen') {
        return `${what} was refused (cancelled, or blocked by the browser or the system): ${consequence}. Choose a screen or window when asked, or allow screen recording for the browser in the system's privacy settings, then press Share Screen again.`;
      }
      return `${what} is blocked for this window: ${consequence}. Allow the ${device} for this site in the browser's site settings (and for the browser in the system's privacy settings), then press Rejoin.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${device === 'screen' ? 'screen to capture' : device} was found: ${consequence}. Connect a ${device === 'screen' ? 'display' : device} (or enable it in the system's settings), then press ${device === 'microphone' ? 'Rejoin' : 'the button again'}.`;
    case 'NotReadableError':
    case 'AbortError':
      return `${what} is in use by another program or failed to start: ${consequence}. Close the program using it, then press ${device === 'microphone' ? 'Rejoin' : 'the button again'}.`;
    case 'InvalidStateError':
      return `${what} starts only from a click in the call panel (the browser asks for one): ${consequence}. Press Share ${device === 'screen' ? 'Screen' : 'Camera'} in the call panel.`;
    case 'Unsupported':
      return `This editor cannot capture the ${device === 'screen' ? 'screen' : device} (no media devices in its webviews): ${consequence}. Use \`codeforge call\` in a terminal instead.`;
    default:
      return `${what} could not be opened (${error}): ${consequence}. Check the device and the browser's site settings, then press Rejoin.`;
  }
}

// ---- what the participant lists show -----------------------------------------------------

/** Marks of one participant in a list: talking, muted, sharing. */
export function callMarks(p: CallParticipant): string {
  const marks: string[] = [];
  if (p.talking && !p.muted) marks.push('talking');
  if (p.muted) marks.push(p.mutedByHost ? 'muted by the host' : 'muted');
  if (p.sharing) marks.push(`sharing ${p.sharing}`);
  return marks.join(', ');
}

/** The call status bar item: hidden (empty text) without a call. */
export function callStatusText(call: CallState | null, username: string | undefined, joined: boolean): { text: string; tooltip: string } {
  if (!call || call.state === 'ended') return { text: '', tooltip: '' };
  const people = call.participants;
  const talking = people.filter((p) => p.talking && !p.muted).map((p) => p.name);
  const mine = me(call, username);
  const icon = joined ? (mine?.muted ? '$(mute)' : '$(unmute)') : '$(call-incoming)';
  const count = people.length === 1 ? '1 in call' : `${people.length} in call`;
  const text = `${icon} ${count}${talking.length ? ` · ${talking.join(', ')} talking` : ''}`;
  const lines = people.map((p) => `${p.name}${p.host ? ' (host)' : ''}${callMarks(p) ? ` — ${callMarks(p)}` : ''}`);
  const tooltip = [`Call: ${count}`, ...lines, joined ? 'Click to show the call.' : 'Click to join the call.'].join('\n');
  return { text, tooltip };
}

/** A username's talking mark for the collaboration participant list ('' when none). */
export function talkingMark(call: CallState | null, username: string): string {
  const p = call?.state === 'active' ? call.participants.find((x) => x.username === username) : undefined;
  if (!p) return '';
  if (p.muted) return '$(mute)';
  return p.talking ? '$(megaphone)' : '$(unmute)';
}

// ---- secrets -----------------------------------------------------------------------------

/**
 * Text for messages and the output channel: TURN credentials, tokens and ICE passwords out.
 * The server's errors never carry them by design; this is the last guard.
 */
export function scrubCallText(text: string): string {
  return text
    .replace(/("?(?:credential|password|token)"?\s*[:=]\s*"?)[^"\s,&}]+/gi, '$1••••')
    .replace(/(a=ice-pwd:)\S+/g, '$1••••')
    .replace(/([?&#]token=)[^&\s]+/gi, '$1••••')
    .replace(/\bBearer\s+\S+/g, 'Bearer ••••');
}
