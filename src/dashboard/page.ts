/**
 * The dashboard page: plain HTML, one stylesheet and one small script, served as they are (no
 * build step, no framework, nothing loaded from elsewhere). The script follows `/events`
 * (server-sent events) and redraws with DOM calls and `textContent` only: registry data is
 * input from anyone who can register, so it never becomes markup.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rollcall</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="dashboard.css">
<script src="dashboard.js" defer></script>
</head>
<body>
<header class="top">
  <h1>rollcall</h1>
  <span id="registry" class="registry"></span>
  <span id="connection" class="connection" data-state="connecting">connecting</span>
</header>
<div id="banner" class="banner" hidden></div>
<div id="notice" class="notice" role="status" hidden></div>
<div class="layout">
  <main>
    <div id="summary" class="summary"></div>
    <div id="services"></div>
  </main>
  <aside>
    <section class="panel">
      <h2>Resolver view</h2>
      <p class="hint">What a resolver with the default options answers for each service, when it is not the registry.</p>
      <ul id="degraded" class="degraded"></ul>
    </section>
    <section class="panel">
      <h2>Recent changes</h2>
      <ol id="history" class="history"></ol>
    </section>
  </aside>
</div>
</body>
</html>
`;

export const PAGE_STYLE = `:root {
  --bg: #f6f7f9; --card: #fff; --text: #1d2330; --muted: #667085; --line: #e3e6eb;
  --passing: #1a7f37; --warning: #b76e00; --critical: #c62828; --draining: #1f6feb; --none: #8a8f98; --unknown: #8250df;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--text); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
.top { display: flex; align-items: baseline; gap: 16px; padding: 12px 24px; background: #1d2330; color: #fff; }
.top h1 { margin: 0; font-size: 18px; letter-spacing: .02em; }
.registry { color: #c9d1e0; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
.connection { margin-left: auto; font-size: 12px; padding: 2px 10px; border-radius: 999px; background: #444c5e; }
.connection[data-state="live"] { background: var(--passing); }
.connection[data-state="reconnecting"] { background: var(--critical); }
.banner { margin: 16px 24px 0; padding: 10px 14px; border-radius: 6px; background: #fdecea; color: var(--critical); border: 1px solid #f5c2c0; }
.notice { margin: 16px 24px 0; padding: 10px 14px; border-radius: 6px; background: #e8f5ec; color: var(--passing); border: 1px solid #b7dfc3; }
.notice[data-outcome="failed"] { background: #fdecea; color: var(--critical); border-color: #f5c2c0; }
button.deregister { font: inherit; font-size: 12px; padding: 2px 8px; border: 1px solid var(--line); border-radius: 4px; background: var(--card); color: var(--critical); cursor: pointer; }
button.deregister:hover { border-color: var(--critical); }
.layout { display: grid; grid-template-columns: minmax(0, 1fr) 380px; gap: 24px; padding: 16px 24px 32px; }
@media (max-width: 1000px) { .layout { grid-template-columns: minmax(0, 1fr); } }
.summary { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 16px; }
.chip { padding: 4px 10px; border-radius: 999px; background: var(--card); border: 1px solid var(--line); }
.chip[data-health="passing"] { color: var(--passing); }
.chip[data-health="warning"] { color: var(--warning); }
.chip[data-health="critical"] { color: var(--critical); }
.chip[data-health="unknown"] { color: var(--unknown); }
.service { background: var(--card); border: 1px solid var(--line); border-left: 4px solid var(--none); border-radius: 6px; margin-bottom: 14px; }
.service[data-health="passing"] { border-left-color: var(--passing); }
.service[data-health="warning"] { border-left-color: var(--warning); }
.service[data-health="critical"] { border-left-color: var(--critical); }
.service[data-health="unknown"] { border-left-color: var(--unknown); }
.service > header { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; padding: 10px 14px; }
.service h2 { margin: 0; font-size: 16px; }
.counts, .resolver-tier { color: var(--muted); }
.resolver-tier[data-tier="stale"], .resolver-tier[data-tier="env"] { color: var(--warning); }
.resolver-tier[data-tier="none"] { color: var(--critical); font-weight: 600; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 4px; font-size: 12px; font-weight: 600; color: #fff; background: var(--none); }
.badge[data-health="passing"], .badge[data-status="passing"] { background: var(--passing); }
.badge[data-health="warning"], .badge[data-status="warning"] { background: var(--warning); }
.badge[data-health="critical"], .badge[data-status="critical"] { background: var(--critical); }
.badge[data-health="unknown"] { background: var(--unknown); }
.badge[data-status="draining"] { background: var(--draining); }
.error { margin: 0 14px 10px; color: var(--critical); }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 6px 14px; border-top: 1px solid var(--line); white-space: nowrap; }
th { font-size: 12px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
td.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
.panel { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; margin-bottom: 16px; }
.panel h2 { margin: 0 0 4px; font-size: 15px; }
.hint, .empty { color: var(--muted); margin: 0 0 8px; }
.degraded, .history { list-style: none; margin: 0; padding: 0; }
.degraded li { padding: 6px 0; border-top: 1px solid var(--line); }
.degraded strong { margin-right: 6px; }
.history li { display: grid; grid-template-columns: 64px minmax(0, 1fr); gap: 8px; padding: 5px 0; border-top: 1px solid var(--line); overflow-wrap: anywhere; }
.history li.empty { display: block; }
.history time { color: var(--muted); font-variant-numeric: tabular-nums; }
.history li[data-kind="lost"], .history li[data-status="critical"], .history li[data-kind="degraded"] { color: var(--critical); }
.history li[data-kind="back"], .history li[data-kind="recovered"] { color: var(--passing); }
`;

export const PAGE_SCRIPT = `'use strict';
(() => {
  const HEALTHS = ['passing', 'warning', 'critical', 'no-instances', 'unknown'];
  const TIERS = { registry: 'the registry', stale: 'stale cache', env: 'the environment', none: 'no instance' };
  let view;

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null) continue;
      if (name === 'class') node.className = value;
      else node.setAttribute(name, String(value));
    }
    for (const child of children) if (child !== undefined && child !== null) node.append(child);
    return node;
  }

  function age(ms) {
    const seconds = Math.max(0, Math.floor(ms / 1000));
    if (seconds < 120) return seconds + 's';
    const minutes = Math.floor(seconds / 60);
    if (minutes < 120) return minutes + 'm';
    const hours = Math.floor(minutes / 60);
    return hours < 48 ? hours + 'h' : Math.floor(hours / 24) + 'd';
  }

  /** A cell whose text is the time since an epoch, kept current by tick(). */
  function since(at, suffix) {
    if (at === null || at === undefined) return el('td', {}, '-');
    return el('td', { 'data-since': at, 'data-suffix': suffix }, age(Date.now() - at) + suffix);
  }

  function tick() {
    for (const node of document.querySelectorAll('[data-since]')) {
      node.textContent = age(Date.now() - Number(node.dataset.since)) + node.dataset.suffix;
    }
  }

  function plural(count, noun) {
    return count + ' ' + noun + (count === 1 ? '' : 's');
  }

  function address(instance) {
    return instance.protocol + '://' + (instance.host.includes(':') ? '[' + instance.host + ']' : instance.host) + ':' + instance.port;
  }

  function notify(text, outcome) {
    const notice = document.getElementById('notice');
    notice.textContent = text;
    notice.dataset.outcome = outcome;
    notice.hidden = false;
  }

  function deregisterButton(service, instance) {
    const button = el('button', { class: 'deregister', type: 'button' }, 'deregister');
    button.addEventListener('click', async () => {
      const name = service + '/' + instance.id;
      const question = 'Deregister ' + name + ' at ' + address(instance) + '? Callers stop being sent to it; a process still running registers again at its next heartbeat.';
      if (!window.confirm(question)) return;
      button.disabled = true;
      try {
        const response = await fetch('api/deregister', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-rollcall-action': 'deregister' },
          body: JSON.stringify({ service, id: instance.id }),
        });
        const answer = await response.json();
        if (response.ok) notify('Deregistered ' + name + '.', 'done');
        else notify(name + ' was not deregistered: ' + answer.error, 'failed');
      } catch (error) {
        notify(name + ' was not deregistered: ' + error.message, 'failed');
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  function serviceSection(service) {
    const counts = Object.entries(service.counts).filter(([, count]) => count > 0).map(([status, count]) => count + ' ' + status);
    const resolver = service.resolver;
    const tier = resolver
      ? el('span', { class: 'resolver-tier', 'data-tier': resolver.tier }, 'resolver: ' + TIERS[resolver.tier] + (resolver.tier === 'none' ? '' : ', ' + resolver.eligible + ' eligible'))
      : undefined;
    const header = el('header', {}, el('h2', {}, service.service), el('span', { class: 'badge', 'data-health': service.health }, service.health), el('span', { class: 'counts' }, counts.join(' · ') || 'no instances'), tier);
    const section = el('section', { class: 'service', 'data-service': service.service, 'data-health': service.health }, header);
    if (service.error) section.append(el('p', { class: 'error' }, 'cannot read its instances: ' + service.error));
    if (service.instances.length > 0) {
      const titles = ['id', 'address', 'status', 'zone', 'version', 'age', 'last heartbeat'].concat(view.canDeregister ? [''] : []);
      const head = el('tr', {}, ...titles.map((title) => el('th', {}, title)));
      const rows = service.instances.map((instance) =>
        el(
          'tr',
          { 'data-instance': instance.id, 'data-status': instance.status },
          el('td', { class: 'mono' }, instance.id),
          el('td', { class: 'mono' }, address(instance)),
          el('td', {}, el('span', { class: 'badge', 'data-status': instance.status }, instance.status)),
          el('td', {}, instance.zone || '-'),
          el('td', {}, instance.version || '-'),
          since(instance.registeredAt, ''),
          since(instance.lastHeartbeatAt, ' ago'),
          view.canDeregister ? el('td', {}, deregisterButton(service.service, instance)) : undefined,
        ),
      );
      section.append(el('table', {}, el('thead', {}, head), el('tbody', {}, ...rows)));
    }
    return section;
  }

  function render() {
    document.title = 'rollcall: ' + view.registry;
    document.getElementById('registry').textContent = view.registry;
    const banner = document.getElementById('banner');
    banner.hidden = view.reachable;
    banner.textContent = view.reachable ? '' : 'The registry does not answer (' + view.error + '). Showing what it last said.';

    const byHealth = HEALTHS.map((health) => [health, view.services.filter((service) => service.health === health).length]).filter(([, count]) => count > 0);
    const instances = view.services.reduce((sum, service) => sum + service.instances.length, 0);
    document.getElementById('summary').replaceChildren(
      el('span', { class: 'chip' }, plural(view.services.length, 'service')),
      el('span', { class: 'chip' }, plural(instances, 'instance')),
      ...byHealth.map(([health, count]) => el('span', { class: 'chip', 'data-health': health }, count + ' ' + health)),
    );

    const services = view.services.map(serviceSection);
    document.getElementById('services').replaceChildren(...(services.length > 0 ? services : [el('p', { class: 'empty' }, 'The registry lists no service.')]));

    const degraded = view.services.filter((service) => service.resolver && service.resolver.tier !== 'registry');
    document.getElementById('degraded').replaceChildren(
      ...(degraded.length === 0
        ? [el('li', { class: 'empty' }, 'Every service is answered by the registry.')]
        : degraded.map((service) =>
            el(
              'li',
              { 'data-service': service.service, 'data-tier': service.resolver.tier },
              el('strong', {}, service.service),
              el('span', { class: 'resolver-tier', 'data-tier': service.resolver.tier }, TIERS[service.resolver.tier]),
              service.resolver.since ? el('span', { class: 'hint' }, ' for ', el('span', { 'data-since': service.resolver.since, 'data-suffix': '' }, age(Date.now() - service.resolver.since))) : undefined,
              service.resolver.reason ? el('div', { class: 'hint' }, service.resolver.reason) : undefined,
            ),
          )),
    );

    document.getElementById('history').replaceChildren(
      ...(view.history.length === 0
        ? [el('li', { class: 'empty' }, 'No change since the dashboard started.')]
        : view.history.map((entry) =>
            el('li', { 'data-kind': entry.kind, 'data-status': entry.status }, el('time', {}, new Date(entry.at).toLocaleTimeString([], { hour12: false })), el('span', {}, entry.text)),
          )),
    );
  }

  const connection = document.getElementById('connection');
  const events = new EventSource('events');
  events.addEventListener('open', () => {
    connection.dataset.state = 'live';
    connection.textContent = 'live';
  });
  events.addEventListener('error', () => {
    connection.dataset.state = 'reconnecting';
    connection.textContent = 'reconnecting';
  });
  events.addEventListener('view', (event) => {
    view = JSON.parse(event.data);
    render();
  });
  setInterval(tick, 1000);
})();
`;
