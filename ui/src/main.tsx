/** The web console: one page per hash route (#/targets ...), a nav, and the data every page reads. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { Disks } from './pages/disks.js';
import { Hosts } from './pages/hosts.js';
import { Overview } from './pages/overview.js';
import { Sessions } from './pages/sessions.js';
import { Targets } from './pages/targets.js';
import { DataContext, useDataSource } from './state.js';
import './style.css';

const PAGES: readonly { path: string; title: string; view: () => JSX.Element }[] = [
  { path: 'overview', title: 'Overview', view: Overview },
  { path: 'targets', title: 'Targets', view: Targets },
  { path: 'disks', title: 'Disks', view: Disks },
  { path: 'hosts', title: 'Hosts', view: Hosts },
  { path: 'sessions', title: 'Sessions', view: Sessions },
];

const routeOf = (): string => location.hash.replace(/^#\/?/, '') || 'overview';

function App(): JSX.Element {
  const data = useDataSource();
  const [route, setRoute] = useState(routeOf);
  useEffect(() => {
    const on = (): void => {
      setRoute(routeOf());
      // Keyboard and screen reader users land on the new page's heading.
      requestAnimationFrame(() => document.getElementById('main')?.focus());
    };
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  const page = PAGES.find((p) => p.path === route) ?? PAGES[0];
  useEffect(() => {
    document.title = `${page?.title ?? ''} · iSCSI gateway`;
  }, [page]);
  return (
    <DataContext.Provider value={data}>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header>
        <h1>iSCSI gateway {data.stats !== undefined && <small>{data.stats.gateway}</small>}</h1>
        <nav aria-label="Pages">
          <ul>
            {PAGES.map((p) => (
              <li>
                <a href={`#/${p.path}`} aria-current={p === page ? 'page' : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      {data.error !== '' && (
        <p class="error banner" role="alert">
          API: {data.error}
        </p>
      )}
      <main id="main" tabIndex={-1} data-page={page?.path} aria-busy={data.config === undefined}>
        {page !== undefined && <page.view />}
      </main>
    </DataContext.Provider>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
