// The terminal page: xterm.js in the browser, a websocket to the dashboard, exec in the pod.
"use strict";

(function () {
  const box = document.getElementById("terminal");
  const status = document.getElementById("terminal-status");
  const term = new Terminal({ cursorBlink: true, convertEol: false, fontSize: 14 });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();

  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const url = scheme + location.host + box.dataset.socket + "&csrf=" + encodeURIComponent(csrf);
  const socket = new WebSocket(url);
  const send = (msg) => { if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg)); };
  const resize = () => { fit.fit(); send({ type: "resize", cols: term.cols, rows: term.rows }); };

  socket.addEventListener("open", () => { status.textContent = "connected"; resize(); term.focus(); });
  socket.addEventListener("message", (event) => {
    const text = String(event.data);
    if (text.startsWith("{\"type\"")) {
      const msg = JSON.parse(text);
      if (msg.type === "error") { status.textContent = msg.message; status.classList.add("refused"); }
      if (msg.type === "exit") status.textContent = "the shell ended (exit " + msg.code + ")";
      return;
    }
    term.write(text);
  });
  socket.addEventListener("close", () => {
    if (!status.classList.contains("refused") && !status.textContent.startsWith("the shell")) {
      status.textContent = "disconnected";
    }
  });
  term.onData((data) => send({ type: "input", data }));
  window.addEventListener("resize", resize);
})();
