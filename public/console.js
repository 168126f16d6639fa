// The machine page's Console panel: a terminal (xterm.js, bundled from npm into /vendor/xterm/,
// no CDN) on the machine's console WebSocket, /api/v1/machines/{id}/console. Binary frames carry
// the bytes both ways; text frames carry JSON: our control words (break, take_keyboard,
// take_over_sol, resize) and the server's state (console state, role, keyboard). The recorded
// scrollback arrives first. Listeners sit on the document, so the page may be rendered,
// hydrated or re-rendered in any order.

const STATES = {
  connecting: "Connecting to the BMC…",
  live: "Live",
  "held-elsewhere": "SOL is held by another session on the BMC",
  down: "The BMC refused SOL or is unreachable",
  closed: "Closed",
  ended: "Disconnected",
  "read-only": "You are watching",
  "bad-request": "Refused",
  refused: "Refused",
};

let loading;
function loadTerminal() {
  if (window.Terminal) return Promise.resolve();
  if (!loading) {
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = "/vendor/xterm/xterm.css";
    document.head.append(css);
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/vendor/xterm/xterm.js";
      script.onload = resolve;
      script.onerror = () => reject(new Error("could not load the terminal (/vendor/xterm/xterm.js)"));
      document.head.append(script);
    });
  }
  return loading;
}

/**
 * Runs `action` with every <style> element created meanwhile carrying the page's nonce. xterm.js
 * writes its cell sizes and colours into <style> elements it creates as it opens, and the page's
 * Content-Security-Policy applies inline styles only with that nonce (scripts read it from the
 * `nonce` property of a script that has one; the attribute is hidden from them).
 */
function withStyleNonce(action) {
  const nonce = document.querySelector("script[nonce]")?.nonce;
  const create = document.createElement;
  document.createElement = function (tag, options) {
    const element = create.call(this, tag, options);
    if (nonce && String(tag).toLowerCase() === "style") element.nonce = nonce;
    return element;
  };
  try {
    return action();
  } finally {
    document.createElement = create;
  }
}

const sessions = new WeakMap();

function part(panel, role) {
  return panel.querySelector(`[data-role="${role}"]`);
}

function show(panel, state) {
  const label = part(panel, "state");
  const name = state.state || "";
  panel.dataset.state = name;
  if (state.console) panel.dataset.console = state.console;
  if (state.keyboard) panel.dataset.keyboard = state.keyboard;
  if (state.role) panel.dataset.role = state.role;
  const keyboard = state.keyboard === "yours" ? "you have the keyboard"
    : state.keyboard === "other" ? "someone else has the keyboard" : "nobody has the keyboard";
  label.textContent = `${STATES[name] || name}${state.detail ? `: ${state.detail}` : ""} — ${keyboard}`;
  part(panel, "take-keyboard").hidden = state.keyboard === "yours";
  part(panel, "take-over").hidden = state.console !== "held-elsewhere" || state.role !== "manager";
  part(panel, "break").disabled = state.keyboard !== "yours";
}

async function connect(panel) {
  if (sessions.get(panel)) return;
  const machine = panel.dataset.consoleMachine;
  part(panel, "state").textContent = "Opening the console…";
  try {
    await loadTerminal();
  } catch (error) {
    part(panel, "state").textContent = error.message;
    return;
  }
  const screen = part(panel, "screen");
  screen.replaceChildren();
  const term = new window.Terminal({ convertEol: false, scrollback: 10000, fontSize: 13, cursorBlink: true });
  withStyleNonce(() => term.open(screen));
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/v1/machines/${machine}/console`);
  socket.binaryType = "arraybuffer";
  const session = { term, socket, received: 0 };
  sessions.set(panel, session);
  panel.dataset.connected = "true";
  part(panel, "connect").hidden = true;
  part(panel, "controls").hidden = false;
  const encoder = new TextEncoder();
  term.onData((data) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data));
  });
  term.onResize(({ cols, rows }) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "resize", cols, rows }));
  });
  socket.onmessage = (event) => {
    if (typeof event.data === "string") {
      let state;
      try { state = JSON.parse(event.data); } catch { return; }
      show(panel, state);
      return;
    }
    const bytes = new Uint8Array(event.data);
    session.received += bytes.length;
    panel.dataset.received = String(session.received);
    term.write(bytes);
  };
  socket.onclose = () => {
    sessions.delete(panel);
    panel.dataset.connected = "false";
    part(panel, "connect").hidden = false;
    part(panel, "connect").textContent = "Reconnect";
    if (panel.dataset.state !== "ended") {
      part(panel, "state").textContent = "Disconnected";
      panel.dataset.state = "ended";
    }
  };
  term.focus();
}

function send(panel, message) {
  const session = sessions.get(panel);
  if (session && session.socket.readyState === WebSocket.OPEN) {
    session.socket.send(JSON.stringify(message));
    session.term.focus();
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-console-machine] button[data-role]");
  if (!button) return;
  const panel = button.closest("[data-console-machine]");
  event.preventDefault();
  switch (button.dataset.role) {
    case "connect": connect(panel); break;
    case "break": send(panel, { type: "break" }); break;
    case "take-keyboard": send(panel, { type: "take_keyboard" }); break;
    case "take-over": send(panel, { type: "take_over_sol" }); break;
  }
});
