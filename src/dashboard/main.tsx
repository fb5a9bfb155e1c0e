/** The dashboard's entry: finds where it was opened and renders the app into #app. */
import { render } from 'preact';
import { App } from './app.tsx';
import { placeOf } from './session.ts';
import './style.css';

render(<App place={placeOf(location.origin, location.pathname)} />, document.getElementById('app')!);
