// Live kiosk state over server-sent events. EventSource retries a dropped
// connection by itself, but gives up for good after an error answer (a 503
// when the server's streams are full) and keeps showing the last screen: a
// stale "Welcome, NAME". So this page reconnects itself, with a growing pause,
// and shows that it is reconnecting meanwhile; a stream silent for longer than
// the server's keep-alive is taken for dropped.
const title = document.getElementById("title");
const detail = document.getElementById("detail");
const clock = document.getElementById("clock");
const guide = document.getElementById("guide");
const twelveHour = document.body.dataset.timeFormat === "12h";
const SILENT_MS = 40000;  // the server sends at least every 15 s
const MAX_PAUSE_MS = 30000;

let events = null;
let pause = 1000;
let retry = null;
let silence = null;

function show(data) {
  title.textContent = data.title;
  detail.textContent = data.detail || "";
  document.body.className = "state-" + data.state;
  if (guide) {
    guide.classList.toggle("face", Boolean(data.face));
    guide.classList.toggle("good", Boolean(data.face && data.face.good));
  }
}

function disconnected() {
  if (events) { events.close(); events = null; }
  clearTimeout(silence);
  show({state: "disconnected", title: "Reconnecting\u2026", detail: ""});
  if (retry === null) {
    // Jittered, so many screens do not all come back at the same moment.
    retry = setTimeout(() => { retry = null; connect(); }, pause * (0.75 + Math.random() / 2));
    pause = Math.min(pause * 2, MAX_PAUSE_MS);
  }
}

function heard() {
  clearTimeout(silence);
  silence = setTimeout(disconnected, SILENT_MS);
}

function connect() {
  events = new EventSource("/events");
  heard();
  events.onopen = () => { pause = 1000; heard(); };
  events.onmessage = (event) => { heard(); show(JSON.parse(event.data)); };
  events.onerror = disconnected;
}
connect();

// The camera picture (MJPEG) ends the same ways: ask for it again, with the same growing pause.
const picture = document.querySelector("#preview img");
if (picture) {
  const source = picture.getAttribute("src");
  let picturePause = 1000;
  picture.onload = () => { picturePause = 1000; };
  picture.onerror = () => {
    setTimeout(() => { picture.src = source + "?retry=" + Date.now(); }, picturePause);
    picturePause = Math.min(picturePause * 2, MAX_PAUSE_MS);
  };
}

function pad(n) { return String(n).padStart(2, "0"); }
function tick() {
  const now = new Date();
  if (twelveHour) {
    const h = now.getHours() % 12 || 12;
    clock.textContent = h + ":" + pad(now.getMinutes()) + (now.getHours() < 12 ? " AM" : " PM");
  } else {
    clock.textContent = pad(now.getHours()) + ":" + pad(now.getMinutes());
  }
}
tick();
setInterval(tick, 1000);
