import { mount } from 'svelte';
import App from './App.svelte';
import Dashboard from './dashboard/Dashboard.svelte';
import './app.css';

// One bundle, two pages: the call (/room/<call>) and the supervisors' dashboard (/dashboard).
const page = /^\/dashboard\/?$/.test(window.location.pathname) ? Dashboard : App;
mount(page, { target: document.getElementById('app')! });

// A link's token is in its fragment (lib/joinLink.ts), and opening another link to the same page
// in this tab changes only the fragment, which browsers do without loading the page again: load
// it, so that the new link's token (another call, another role) is the one used.
window.addEventListener('hashchange', () => {
  if (/^#(?:.*&)?token=/.test(window.location.hash)) window.location.reload();
});
