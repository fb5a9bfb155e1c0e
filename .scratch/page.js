
const log = (x) => { document.getElementById('log').textContent += x + '\n'; };
// The registry fills the list; choosing a service shows its description and example input.
const pick = async () => {
  const name = document.getElementById('service').value;
  const s = await (await fetch('/services/' + encodeURIComponent(name))).json();
  document.getElementById('about').textContent = (s.description || '') + (s.online === false ? ' (no worker online)' : '');
  if (s.example !== undefined) document.getElementById('input').value = JSON.stringify(s.example, null, 2);
};
fetch('/services').then((r) => r.json()).then(({ services }) => {
  const select = document.getElementById('service');
  for (const s of services) select.add(new Option(s.name + ' ' + s.version, s.name));
  if (services.some((s) => s.name === 'slow')) select.value = 'slow';
  select.onchange = pick;
  if (services.length) pick();
});
document.getElementById('f').onsubmit = async (e) => {
  e.preventDefault();
  document.getElementById('log').textContent = '';
  const q = new URLSearchParams({ service: document.getElementById('service').value });
  const ttl = document.getElementById('ttl').value; if (ttl) q.set('ttl', ttl);
  const res = await fetch('/task?' + q, { method: 'POST', headers: { 'content-type': 'application/json' }, body: document.getElementById('input').value });
  const task = await res.json();
  if (!res.ok) return log('error: ' + JSON.stringify(task.error));
  log('task ' + task.id + ': ' + task.status);
  const ws = new WebSocket(task._links.updates.href);
  ws.onmessage = async (m) => {
    const msg = JSON.parse(m.data);
    if (msg.eventType === 'progress') {
      const p = typeof msg.eventData === 'number' ? msg.eventData : msg.eventData && msg.eventData.progress;
      if (typeof p === 'number') document.getElementById('bar').value = p;
      log('progress ' + JSON.stringify(msg.eventData));
    } else {
      document.getElementById('bar').value = 100;
      log(msg.eventType + ': ' + JSON.stringify(await (await fetch(msg.eventData.href)).json()));
    }
  };
};
