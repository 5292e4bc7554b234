// A one-way WebSocket that reconnects. The server writes JSON frames; the client never sends.
// Reconnects back off exponentially (1 s, 2 s, 4 s … capped at 30 s) and reset once a connection
// has delivered a frame. Callers learn about (re)connects so they can refetch what they missed:
// events sent while a socket was down are lost for good.

export type SocketState =
  | { status: "connecting"; attempt: number }
  | { status: "open" }
  | { status: "waiting"; attempt: number; retryAt: number };

export interface ReconnectingSocket {
  close(): void;
}

export function backoffMs(attempt: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

/**
 * Opens `url()` (called on every attempt, so the caller can move `after_id` forward) and hands each
 * text frame to `onFrame`. `onOpen(reconnect)` runs on every successful open; `reconnect` is
 * false only for the first.
 */
export function openReconnectingSocket(opts: {
  url: () => string;
  onFrame: (text: string) => void;
  onOpen?: (reconnect: boolean) => void;
  onState?: (state: SocketState) => void;
}): ReconnectingSocket {
  let ws: WebSocket | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let closed = false;
  let attempt = 0;
  let opened = false;

  const connect = () => {
    if (closed) return;
    opts.onState?.({ status: "connecting", attempt });
    const sock = new WebSocket(opts.url());
    ws = sock;
    sock.onopen = () => {
      if (closed) return;
      opts.onState?.({ status: "open" });
      opts.onOpen?.(opened);
      opened = true;
    };
    sock.onmessage = (e: MessageEvent) => {
      attempt = 0;
      if (typeof e.data === "string") opts.onFrame(e.data);
    };
    sock.onclose = () => {
      if (closed || ws !== sock) return;
      attempt++;
      const delay = backoffMs(attempt);
      opts.onState?.({ status: "waiting", attempt, retryAt: Date.now() + delay });
      timer = setTimeout(connect, delay);
    };
  };
  connect();

  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      ws?.close();
    },
  };
}
