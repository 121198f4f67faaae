// The live dashboard: each `update` event is the page's new <main>, rendered
// by the server (the same template as the report); the `report` event is
// the final report, which replaces it and is offered for download.
'use strict';
(() => {
  const main = document.getElementById('dashboard');
  const bar = document.getElementById('connection');
  const status = document.getElementById('connection-status');
  const download = document.getElementById('download');
  const events = new EventSource('events');
  let updates = 0;

  const show = (state, text) => {
    bar.className = state;
    status.textContent = text;
  };

  events.addEventListener('update', (event) => {
    main.innerHTML = event.data;
    updates += 1;
    main.dataset.updates = String(updates);
    show('live', `live · updated ${new Date().toLocaleTimeString()}`);
  });

  events.addEventListener('report', (event) => {
    events.close();
    // Only the report's title and <main> are parsed: its inline <style> is
    // the page's stylesheet already, and parsing it would break the policy.
    const text = event.data;
    const title = text.match(/<title>[^<]*<\/title>/);
    const start = text.indexOf('<main>');
    const end = text.lastIndexOf('</main>');
    const fragment = (title ? title[0] : '') + (start >= 0 && end > start ? text.slice(start, end + 7) : '');
    const report = new DOMParser().parseFromString(`<!DOCTYPE html><body>${fragment}`, 'text/html');
    const content = report.querySelector('main');
    if (content) {
      main.replaceChildren(...Array.from(content.childNodes, (node) => document.importNode(node, true)));
    }
    main.dataset.final = 'true';
    document.title = report.title || document.title;
    download.href = URL.createObjectURL(new Blob([text], { type: 'text/html' }));
    download.hidden = false;
    show('ended', 'the run has ended: this is its report');
  });

  events.onerror = () => {
    if (main.dataset.final !== 'true') {
      show('lost', 'the connection to loadgrid is lost: retrying (the run goes on without this page)');
    }
  };
})();
