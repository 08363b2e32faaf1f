// Who is in the session's call, for the participant lists outside the call panel (the
// collaboration status item shows talking and muted marks from it). One per extension: the
// language server's `codeforge/call/state` sets it (call/index.ts), lists subscribe.
import { type CallState, callMarks, talkingMark } from './model';

type Listener = () => void;

export class CallRoster {
  private current: CallState | null = null;
  private readonly listeners = new Set<Listener>();

  get call(): CallState | null {
    return this.current;
  }

  set(call: CallState | null): void {
    this.current = call;
    for (const listener of [...this.listeners]) listener();
  }

  /** Called on every change; returns the unsubscribe. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A codicon for a participant of the session: talking, muted, in the call ('' when not in it). */
  mark(username: string): string {
    return talkingMark(this.current, username);
  }

  /** One line per call participant with their marks, for a tooltip ('' without a call). */
  describe(): string {
    const call = this.current;
    if (!call || call.state !== 'active' || call.participants.length === 0) return '';
    return call.participants.map((p) => `${p.name}${callMarks(p) ? ` (${callMarks(p)})` : ''}`).join(', ');
  }

  /** Names of those talking now. */
  talking(): string[] {
    const call = this.current;
    return call && call.state === 'active' ? call.participants.filter((p) => p.talking && !p.muted).map((p) => p.name) : [];
  }
}

export const callRoster = new CallRoster();
