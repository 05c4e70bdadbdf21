// Live kiosk state over server-sent events; the browser reconnects by itself.
const title = document.getElementById("title");
const detail = document.getElementById("detail");
const clock = document.getElementById("clock");
const guide = document.getElementById("guide");
const twelveHour = document.body.dataset.timeFormat === "12h";

const events = new EventSource("/events");
events.onmessage = (event) => {
  const data = JSON.parse(event.data);
  title.textContent = data.title;
  detail.textContent = data.detail || "";
  document.body.className = "state-" + data.state;
  if (guide) {
    guide.classList.toggle("face", Boolean(data.face));
    guide.classList.toggle("good", Boolean(data.face && data.face.good));
  }
};

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
