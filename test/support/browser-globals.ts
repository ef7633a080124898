/**
 * Preloaded (`node --import`) by the README sample test so that a browser SDK sample runs in Node as
 * it does in a page: a global `WebSocket` and `localStorage`.
 */
import { installJsClientGlobals } from './js-client-sdk.js';

installJsClientGlobals({ localStorage: true });
