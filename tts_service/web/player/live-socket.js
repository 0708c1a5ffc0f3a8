/* Live mode's connection: one WebSocket to /v1/audio/speech/stream, opened when a turn needs it
 * and again after the server closed it (idle); the API key travels as a subprotocol, never in
 * the URL; messages written while it opens wait for it. */

export const STREAM_PATH = "/v1/audio/speech/stream";
const SUBPROTOCOL = "tts-service";

export class LiveSocket {
  /** `handlers`: open(), message(data: string | ArrayBuffer), close(event, wasOpen). */
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.key = null; // the API key the socket was opened with
    this.waiting = []; // messages written before it opened
  }

  get isOpen() {
    return Boolean(this.socket && this.socket.readyState === WebSocket.OPEN);
  }

  /** Open (unless open or opening with this `key`; or with another key while `busy`, turns in
   * flight on it). A browser cannot set headers on a WebSocket: the key is offered as the
   * subprotocol `tts-service.key.<key>` beside `tts-service`. */
  connect(key, busy) {
    const alive = this.socket && this.socket.readyState <= WebSocket.OPEN;
    if (alive && (this.key === key || busy)) return;
    this.close();
    const url = new URL(STREAM_PATH, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const socket = key ? new WebSocket(url, [SUBPROTOCOL, `${SUBPROTOCOL}.key.${key}`]) : new WebSocket(url);
    socket.binaryType = "arraybuffer";
    let opened = false;
    socket.onopen = () => {
      opened = true;
      const waiting = this.waiting;
      this.waiting = [];
      for (const data of waiting) socket.send(data);
      this.handlers.open();
    };
    socket.onmessage = (event) => this.handlers.message(event.data);
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.waiting = [];
      this.handlers.close(event, opened);
    };
    this.socket = socket;
    this.key = key;
  }

  /** Send `message` (JSON) now, or once the socket has opened. */
  send(message) {
    const data = JSON.stringify(message);
    if (this.isOpen) this.socket.send(data);
    else this.waiting.push(data);
  }

  /** Forget the messages still waiting for the socket to open: the server never saw them. */
  dropWaiting() {
    this.waiting = [];
  }

  close() {
    const socket = this.socket;
    this.socket = null;
    this.waiting = [];
    if (socket) {
      socket.onclose = null;
      socket.close(1000);
    }
  }
}
