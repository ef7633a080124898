/**
 * The operator status page: static HTML that polls `/status.json` every two seconds. Environment
 * names (project and environment keys) need the relay proxy key, which the operator types in; it
 * is kept in the tab's sessionStorage and sent as `Authorization`.
 */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>FeatBit Agent</title>
<style>
  :root { color-scheme: light dark; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
  body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
  .sub { color: #777; margin-bottom: 1.5rem; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(15rem, 1fr)); gap: 1rem; }
  .card { border: 1px solid #8884; border-radius: .5rem; padding: .8rem 1rem; }
  .card h2 { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: #777; margin: 0 0 .4rem; }
  .value { font-size: 1.25rem; font-weight: 600; }
  .ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
  table { border-collapse: collapse; width: 100%; } td { padding: .15rem 0; } td + td { text-align: right; }
  footer { margin-top: 1.5rem; color: #777; font-size: .85rem; }
</style>
</head>
<body>
<h1>FeatBit Agent</h1>
<div class="sub" id="summary">loading…</div>
<div class="grid">
  <div class="card"><h2>Health</h2><div class="value" id="health">–</div><div id="health-detail"></div></div>
  <div class="card"><h2>Sync</h2><div class="value" id="sync">–</div><div id="sync-detail"></div></div>
  <div class="card"><h2>Data</h2><div class="value" id="version">–</div><div id="age"></div></div>
  <div class="card"><h2>Environments served</h2><div class="value" id="serves">–</div>
    <form id="key-form" hidden><input id="key" type="password" autocomplete="off" placeholder="relay proxy key to list them" aria-label="relay proxy key"> <button>show</button></form>
    <div id="key-detail"></div></div>
  <div class="card"><h2>Connections</h2><table id="connections"></table></div>
  <div class="card"><h2>Insights</h2><div class="value" id="queue">–</div><div id="insights"></div></div>
  <div class="card"><h2>Store</h2><div class="value" id="store">–</div></div>
</div>
<footer>Refreshed every 2 s · <span id="updated">never</span></footer>
<script>
  const $ = (id) => document.getElementById(id);
  const cls = (el, c) => { el.className = 'value ' + c; };
  function age(s) { if (s === null) return 'no data yet'; if (s < 120) return s + ' s old'; if (s < 7200) return Math.round(s / 60) + ' min old'; return Math.round(s / 3600) + ' h old'; }
  async function refresh() {
    try {
      const key = sessionStorage.getItem('featbit-agent-key');
      const r = await fetch('status.json', { cache: 'no-store', headers: key ? { authorization: key } : {} });
      const s = await r.json();
      if (key && !s.admin) sessionStorage.removeItem('featbit-agent-key');
      $('key-form').hidden = !!s.admin;
      $('key-detail').textContent = key && !s.admin ? 'wrong key' : '';
      $('summary').textContent = s.mode + ' mode · ' + s.store.type + ' store' + (s.role ? ' · ' + s.role : '');
      $('health').textContent = s.readiness; cls($('health'), s.readiness === 'Healthy' ? 'ok' : s.readiness === 'Degraded' ? 'warn' : 'bad');
      $('health-detail').textContent = s.draining ? 'draining' : '';
      $('sync').textContent = s.syncState; cls($('sync'), s.syncState === 'Stable' || s.syncState === 'None' ? 'ok' : s.syncState === 'Interrupted' ? 'warn' : 'bad');
      $('sync-detail').textContent = [s.lastSyncedAt ? 'last sync ' + new Date(s.lastSyncedAt).toLocaleString() : '', s.upstreamProblem || '', s.registration ? 'registration: ' + s.registration : ''].filter(Boolean).join(' · ');
      $('version').textContent = s.dataVersion ? new Date(s.dataVersion).toISOString().replace('.000Z', 'Z') : '–';
      $('age').textContent = age(s.dataAgeSeconds);
      $('serves').textContent = s.admin ? s.serves || '(none)' : s.environments + (s.environments === 1 ? ' environment' : ' environments');
      $('connections').innerHTML = '';
      for (const [type, n] of Object.entries(s.connections)) {
        const row = document.createElement('tr');
        row.innerHTML = '<td></td><td></td>';
        row.children[0].textContent = type + ' SDKs';
        row.children[1].textContent = String(n);
        $('connections').appendChild(row);
      }
      $('queue').textContent = s.insights.queueDepth + ' queued';
      $('insights').textContent = 'mode ' + s.insights.mode + ' · ' + s.insights.forwarded + ' forwarded · ' + s.insights.dropped + ' dropped';
      const storeDegraded = s.store.healthy && s.store.state === 'degraded';
      $('store').textContent = storeDegraded ? 'writes failing (' + s.store.problem + '), serving from memory' : s.store.healthy ? 'healthy' : 'unreachable'; cls($('store'), storeDegraded ? 'warn' : s.store.healthy ? 'ok' : 'bad');
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      $('summary').textContent = 'agent unreachable';
    }
  }
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const key = $('key').value.trim();
    if (key) sessionStorage.setItem('featbit-agent-key', key);
    $('key').value = '';
    refresh();
  });
  refresh();
  setInterval(refresh, 2000);
</script>
</body>
</html>
`;
