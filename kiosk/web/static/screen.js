// Live kiosk state over server-sent events; the browser reconnects by itself.
const message = document.getElementById("message");
const clock = document.getElementById("clock");
const events = new EventSource("/events");
events.onmessage = (event) => {
  const data = JSON.parse(event.data);
  message.textContent = data.message;
  document.body.className = "state-" + data.state;
};
setInterval(() => { clock.textContent = new Date().toLocaleTimeString(); }, 1000);
