// The call panel's page (src/call/panel.ts serves it under a strict CSP with a nonce). It holds
// the browser's WebRTC peer connection with the bridge's media server (docs/voice.md, "The media
// layout"): m-lines audio sendrecv (microphone up, the mix down), video sendonly (our share),
// video recvonly (whose share we watch). It never talks to the network itself: the offer goes to
// the extension by postMessage, which asks the language server (`codeforge.call.join`) and posts
// the answer back; so the page never sees a token. Everything shown comes in as text
// (textContent only: names are other people's input).
// @ts-check
(function () {
  'use strict';
  // @ts-ignore acquireVsCodeApi is the webview's global
  const vscode = acquireVsCodeApi();
  /** @param {string} id */
  const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
  /** @param {Record<string, unknown>} message */
  const post = (message) => vscode.postMessage(message);

  /** @type {RTCPeerConnection | undefined} */ let pc;
  /** @type {MediaStreamTrack | null} */ let mic = null;
  /** @type {MediaStreamTrack | null} */ let shareTrack = null;
  /** @type {string | null} */ let shareKind = null;
  /** @type {RTCRtpSender | undefined} */ let shareSender;
  /** @type {RTCRtpTransceiver | undefined} */ let watchTransceiver;
  /** @type {ReturnType<typeof setInterval> | undefined} */ let statsTimer;
  let joined = false;
  let joining = false;
  /** The last state the extension sent: {call, me, joined}. */
  /** @type {any} */ let view = { call: null, me: null, joined: false };

  // ---- messages shown in the panel --------------------------------------------------------
  /** @param {string} text @param {'info' | 'warning' | 'error'} level @param {string} [key] */
  function say(text, level, key) {
    const box = $('messages');
    if (key) {
      const old = box.querySelector(`[data-key="${key}"]`);
      if (old) old.remove();
    }
    const line = document.createElement('div');
    line.className = `message ${level}`;
    if (key) line.dataset.key = key;
    line.setAttribute('role', level === 'info' ? 'status' : 'alert');
    line.textContent = text;
    box.appendChild(line);
  }
  /** @param {string} key */
  function unsay(key) {
    $('messages').querySelector(`[data-key="${key}"]`)?.remove();
  }
  /** @param {string} text */
  function phase(text) {
    $('phase').textContent = text;
  }

  // ---- devices ---------------------------------------------------------------------------
  /** @param {unknown} error */
  const nameOf = (error) => (error && typeof error === 'object' && 'name' in error ? String(error.name) : 'Error');

  /** The microphone, or null (the extension is told why: it words the message). */
  async function openMicrophone() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      post({ type: 'device', device: 'microphone', error: 'Unsupported' });
      return null;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      return stream.getAudioTracks()[0] ?? null;
    } catch (error) {
      post({ type: 'device', device: 'microphone', error: nameOf(error) });
      return null;
    }
  }

  /** Codec preferences so the offer carries what the server takes (Opus, VP8) first. */
  /** @param {RTCRtpTransceiver} transceiver @param {'audio' | 'video'} kind @param {string} mime */
  function prefer(transceiver, kind, mime) {
    const caps = typeof RTCRtpReceiver.getCapabilities === 'function' ? RTCRtpReceiver.getCapabilities(kind) : null;
    if (!caps || typeof transceiver.setCodecPreferences !== 'function') return;
    const wanted = caps.codecs.filter((c) => c.mimeType.toLowerCase() === mime);
    if (wanted.length) transceiver.setCodecPreferences(wanted);
  }

  /** Waits until ICE gathering completes (no trickle: the server answers once), at most 10 s. */
  /** @param {RTCPeerConnection} peer */
  function gathered(peer) {
    if (peer.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (peer.iceGatheringState === 'complete') {
          peer.removeEventListener('icegatheringstatechange', done);
          clearTimeout(timer);
          resolve(undefined);
        }
      };
      const timer = setTimeout(() => {
        peer.removeEventListener('icegatheringstatechange', done);
        resolve(undefined);
      }, 10000);
      peer.addEventListener('icegatheringstatechange', done);
    });
  }

  // ---- joining and leaving ---------------------------------------------------------------
  /** @param {RTCIceServer[]} iceServers */
  async function join(iceServers) {
    if (joining) return;
    joining = true;
    close();
    try {
      phase('Opening the microphone…');
      mic = await openMicrophone();
      if (mic) unsay('device-microphone');
      const peer = new RTCPeerConnection({ iceServers });
      pc = peer;
      const audio = peer.addTransceiver(mic ?? 'audio', { direction: mic ? 'sendrecv' : 'recvonly' });
      prefer(audio, 'audio', 'audio/opus');
      const share = peer.addTransceiver('video', { direction: 'sendonly' });
      prefer(share, 'video', 'video/vp8');
      shareSender = share.sender;
      watchTransceiver = peer.addTransceiver('video', { direction: 'recvonly' });
      prefer(watchTransceiver, 'video', 'video/vp8');
      peer.ontrack = (event) => {
        if (event.track.kind === 'audio') hear(event.track);
        else if (event.transceiver === watchTransceiver) show(event.track);
      };
      peer.onconnectionstatechange = () => {
        post({ type: 'connection', state: peer.connectionState });
        if (peer !== pc) return;
        if (peer.connectionState === 'connected') phase(mic ? 'In the call' : 'In the call (listening only)');
        if (peer.connectionState === 'failed') {
          phase('Disconnected');
          say('The call connection failed (the network between this browser and the bridge). Press Rejoin to try again.', 'error', 'connection');
          setJoined(false);
        }
      };
      phase('Connecting…');
      await peer.setLocalDescription(await peer.createOffer());
      await gathered(peer);
      if (peer !== pc || !peer.localDescription) return;
      post({ type: 'offer', sdp: peer.localDescription.sdp });
    } catch (error) {
      phase('Not in the call');
      say(`The call could not start in this panel (${nameOf(error)}: ${error instanceof Error ? error.message : String(error)}). Press Rejoin to try again.`, 'error', 'connection');
      close();
    } finally {
      joining = false;
    }
  }

  /** @param {string} sdp */
  async function answered(sdp) {
    if (!pc) return;
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp });
      unsay('connection');
      setJoined(true);
      if (!statsTimer) statsTimer = setInterval(() => void stats(), 1000);
    } catch (error) {
      say(`The server's answer was not usable (${nameOf(error)}). Press Rejoin to try again.`, 'error', 'connection');
      close();
    }
  }

  function close() {
    if (statsTimer) clearInterval(statsTimer);
    statsTimer = undefined;
    for (const track of [mic, shareTrack]) track?.stop();
    mic = shareTrack = null;
    shareKind = null;
    pc?.close();
    pc = undefined;
    shareSender = watchTransceiver = undefined;
    /** @type {HTMLAudioElement} */ ($('remote-audio')).srcObject = null;
    /** @type {HTMLVideoElement} */ ($('watch-video')).srcObject = null;
    setJoined(false);
  }

  /** @param {boolean} value */
  function setJoined(value) {
    joined = value;
    document.body.classList.toggle('joined', value);
    render();
  }

  /** @param {MediaStreamTrack} track */
  function hear(track) {
    const audio = /** @type {HTMLAudioElement} */ ($('remote-audio'));
    audio.srcObject = new MediaStream([track]);
    audio.play().then(
      () => unsay('autoplay'),
      () => {
        // The browser wants a click on the page before it plays sound.
        say('The browser held back the call\u2019s sound until you click in this panel: press Play Sound.', 'warning', 'autoplay');
        $('play').hidden = false;
      },
    );
  }

  /** @param {MediaStreamTrack} track */
  function show(track) {
    /** @type {HTMLVideoElement} */ ($('watch-video')).srcObject = new MediaStream([track]);
  }

  // ---- sharing ---------------------------------------------------------------------------
  /** @param {'screen' | 'camera'} kind */
  async function startShare(kind) {
    if (!pc || !shareSender) return;
    const device = kind === 'screen' ? 'screen' : 'camera';
    const md = navigator.mediaDevices;
    if (!md || (kind === 'screen' ? !md.getDisplayMedia : !md.getUserMedia)) {
      post({ type: 'device', device, error: 'Unsupported' });
      return;
    }
    /** @type {MediaStream} */ let stream;
    try {
      stream = kind === 'screen' ? await md.getDisplayMedia({ video: true, audio: false }) : await md.getUserMedia({ video: true });
    } catch (error) {
      post({ type: 'device', device, error: nameOf(error) });
      return;
    }
    unsay(`device-${device}`);
    const track = stream.getVideoTracks()[0];
    if (!track || !pc || !shareSender) {
      for (const t of stream.getTracks()) t.stop();
      return;
    }
    shareTrack?.stop();
    shareTrack = track;
    shareKind = kind;
    // The browser's own "Stop sharing" bar ends the track: stop the share with it.
    track.onended = () => {
      if (shareTrack === track) void stopShare();
    };
    await shareSender.replaceTrack(track);
    /** @type {HTMLVideoElement} */ ($('own-video')).srcObject = new MediaStream([track]);
    post({ type: 'share', kind });
    render();
  }

  async function stopShare(tell = true) {
    const had = shareTrack;
    shareTrack = null;
    shareKind = null;
    had?.stop();
    if (shareSender) await shareSender.replaceTrack(null).catch(() => undefined);
    /** @type {HTMLVideoElement} */ ($('own-video')).srcObject = null;
    if (tell && had) post({ type: 'share', kind: null });
    render();
  }

  // ---- statistics ------------------------------------------------------------------------
  async function stats() {
    if (!pc) return;
    const out = { inBytes: 0, inLevel: 0, inEnergy: 0, outBytes: 0, videoFrames: 0 };
    const video = { bytes: 0, packets: 0, plis: 0 };
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.inBytes += s.bytesReceived ?? 0;
        out.inLevel = Math.max(out.inLevel, s.audioLevel ?? 0);
        out.inEnergy += s.totalAudioEnergy ?? 0;
      } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
        out.outBytes += s.bytesSent ?? 0;
      } else if (s.type === 'inbound-rtp' && s.kind === 'video') {
        out.videoFrames += s.framesDecoded ?? 0;
        video.bytes += s.bytesReceived ?? 0;
        video.packets += s.packetsReceived ?? 0;
        video.plis += s.pliCount ?? 0;
      }
    });
    const line = $('stats');
    // Data attributes: the end-to-end test reads them (and they cost nothing to keep).
    line.dataset.inBytes = String(out.inBytes);
    line.dataset.inLevel = String(out.inLevel);
    line.dataset.inEnergy = String(out.inEnergy);
    line.dataset.outBytes = String(out.outBytes);
    line.dataset.videoFrames = String(out.videoFrames);
    // What a stalled watch looks like from here (no packets, or packets but no keyframe).
    line.dataset.video = `${video.packets} packets, ${video.bytes} B, ${video.plis} PLI; watch line ${watchTransceiver?.currentDirection ?? '-'}`;
    line.textContent = `Received ${(out.inBytes / 1024).toFixed(0)} kB of audio (level ${out.inLevel.toFixed(2)}), sent ${(out.outBytes / 1024).toFixed(0)} kB${out.videoFrames ? `, ${out.videoFrames} video frames` : ''}`;
    post({ type: 'stats', stats: out });
  }

  // ---- the participant list and controls -------------------------------------------------
  function render() {
    const call = view.call;
    const people = call && call.state === 'active' ? call.participants : [];
    /** @type {any} */
    const mine = people.find((/** @type {any} */ p) => p.username === view.me);
    const host = !!mine?.host;
    const list = $('people');
    list.replaceChildren();
    for (const p of people) {
      const item = document.createElement('li');
      item.dataset.username = p.username;
      item.classList.toggle('talking', !!p.talking && !p.muted);
      item.classList.toggle('muted', !!p.muted);
      const dot = document.createElement('span');
      dot.className = 'dot';
      dot.style.backgroundColor = p.color; // `#rrggbb` only (model.callColor)
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = `${p.name}${p.username === view.me ? ' (you)' : ''}${p.host ? ' · host' : ''}${p.role === 'guest' ? ' · listening' : ''}`;
      const marks = document.createElement('span');
      marks.className = 'marks';
      const words = [];
      if (p.talking && !p.muted) words.push('talking');
      if (p.muted) words.push(p.muted_by_host ? 'muted by the host' : 'muted');
      if (p.sharing) words.push(`sharing ${p.sharing}`);
      marks.textContent = words.join(' · ');
      item.append(dot, name, marks);
      if (host && joined && p.username !== view.me && !p.muted) {
        const button = document.createElement('button');
        button.className = 'secondary small';
        button.textContent = 'Mute';
        button.title = `Mute ${p.name} (they can unmute themselves)`;
        button.onclick = () => post({ type: 'mute', muted: true, username: p.username });
        item.append(button);
      }
      list.append(item);
    }
    $('empty').hidden = people.length > 0;
    const muted = !!mine?.muted;
    const muteButton = $('mute');
    muteButton.textContent = muted ? 'Unmute' : 'Mute';
    muteButton.setAttribute('aria-pressed', String(muted));
    /** @type {HTMLButtonElement} */ (muteButton).disabled = !joined || !mic;
    if (mic) mic.enabled = !muted;
    const guest = mine?.role === 'guest';
    /** @type {HTMLButtonElement} */ ($('share-screen')).disabled = !joined || guest || shareKind === 'screen';
    /** @type {HTMLButtonElement} */ ($('share-camera')).disabled = !joined || guest || shareKind === 'camera';
    $('stop-share').hidden = !shareKind;
    $('end').hidden = !host || !joined;
    $('leave').hidden = !joined;
    $('rejoin').hidden = joined || joining;
    // Whose share to watch: those sharing now, besides us.
    const select = /** @type {HTMLSelectElement} */ ($('watch'));
    const sharing = people.filter((/** @type {any} */ p) => p.sharing && p.username !== view.me);
    const current = mine?.watching ?? '';
    select.replaceChildren();
    const none = document.createElement('option');
    none.value = '';
    none.textContent = sharing.length ? 'Nobody' : 'Nobody is sharing';
    select.append(none);
    for (const p of sharing) {
      const option = document.createElement('option');
      option.value = p.username;
      option.textContent = `${p.name} (${p.sharing})`;
      select.append(option);
    }
    select.value = sharing.some((/** @type {any} */ p) => p.username === current) ? current : '';
    select.disabled = !joined || sharing.length === 0;
    $('watch-figure').hidden = !current;
    const shown = sharing.find((/** @type {any} */ p) => p.username === current);
    $('watch-caption').textContent = shown ? `${shown.name}'s ${shown.sharing}` : '';
    $('own-figure').hidden = !shareKind;
    $('own-caption').textContent = shareKind ? `Your ${shareKind} (what the others see)` : '';
  }

  $('mute').onclick = () => {
    const mine = view.call?.participants?.find((/** @type {any} */ p) => p.username === view.me);
    const muted = !mine?.muted;
    // Muting takes effect here at once; the server's state confirms it.
    if (mic && muted) mic.enabled = false;
    post({ type: 'mute', muted });
  };
  $('share-screen').onclick = () => void startShare('screen');
  $('share-camera').onclick = () => void startShare('camera');
  $('stop-share').onclick = () => void stopShare();
  $('leave').onclick = () => {
    post({ type: 'leave' });
    close();
    phase('You left the call');
  };
  $('end').onclick = () => post({ type: 'end' });
  $('rejoin').onclick = () => post({ type: 'rejoin' });
  $('play').onclick = () => {
    void (/** @type {HTMLAudioElement} */ ($('remote-audio')).play().then(() => {
      $('play').hidden = true;
      unsay('autoplay');
    }));
  };
  /** @type {HTMLSelectElement} */ ($('watch')).onchange = (event) => {
    const value = /** @type {HTMLSelectElement} */ (event.target).value;
    post({ type: 'watch', username: value || null });
  };

  // ---- from the extension ----------------------------------------------------------------
  window.addEventListener('message', (event) => {
    const m = event.data;
    if (!m || typeof m !== 'object') return;
    switch (m.type) {
      case 'join':
        void join(Array.isArray(m.iceServers) ? m.iceServers : []);
        break;
      case 'answer':
        void answered(String(m.sdp));
        break;
      case 'state':
        view = { call: m.call ?? null, me: m.me ?? null };
        render();
        break;
      case 'message':
        say(String(m.text), m.level === 'error' ? 'error' : m.level === 'warning' ? 'warning' : 'info', m.key ? String(m.key) : undefined);
        break;
      case 'left':
        close();
        phase(String(m.reason ?? 'Not in the call'));
        break;
      case 'shareRefused':
        void stopShare(false);
        break;
      case 'command':
        if (m.action === 'toggleMute') $('mute').click();
        else if (m.action === 'shareScreen') void startShare('screen');
        else if (m.action === 'shareCamera') void startShare('camera');
        else if (m.action === 'stopShare') void stopShare();
        break;
    }
  });
  render();
  post({ type: 'ready' });
})();
