// @ts-check
import { $ } from './lib/dom.js';
import { onKeyChange, setUpSession } from './lib/api.js';
import { refresh, setUpOverview } from './overview.js';
import { connectFeed, setUpFeed } from './feed.js';
import { setUpCharts, showCharts } from './charts.js';
import { setUpExplorer, showMessage, showSearch } from './explorer.js';
import { setUpDeadLetters, showDeadLetters } from './dead-letters.js';
import { setUpSchedules, showSchedules } from './schedules.js';
import { setUpSeek } from './seek.js';

/** The dashboard's entry point: tabs follow the URL's hash, so every view can be linked to. */

const TABS = ['overview', 'messages', 'deadletters', 'charts', 'schedules'];

function route() {
  const hash = location.hash.slice(1);
  const [path = '', search = ''] = hash.split('?');
  const message = /^message\/(.+)$/.exec(path);
  const tab = message ? 'messages' : TABS.includes(path) ? path : 'overview';
  for (const name of TABS) {
    $('tab-' + name).hidden = name !== tab;
    $('nav-' + name).classList.toggle('current', name === tab);
  }
  showCharts(tab === 'charts');
  showDeadLetters(tab === 'deadletters');
  showSchedules(tab === 'schedules');
  if (message) void showMessage(decodeURIComponent(message[1] ?? ''), new URLSearchParams(search).get('channel'));
  else if (tab === 'messages') showSearch();
}

setUpSession();
setUpOverview();
setUpFeed();
setUpCharts();
setUpExplorer();
setUpDeadLetters();
setUpSchedules();
setUpSeek();
onKeyChange(() => {
  void connectFeed();
  void refresh();
});
window.addEventListener('hashchange', route);
route();
