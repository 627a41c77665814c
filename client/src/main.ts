import { mount } from 'svelte';
import App from './App.svelte';
import Dashboard from './dashboard/Dashboard.svelte';
import './app.css';

// One bundle, two pages: the call (/room/<call>) and the supervisors' dashboard (/dashboard).
const page = /^\/dashboard\/?$/.test(window.location.pathname) ? Dashboard : App;
mount(page, { target: document.getElementById('app')! });
