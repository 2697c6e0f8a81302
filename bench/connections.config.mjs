// bench/connections.ts: idle connections are what is measured, so nothing closes them.
export default { upgradedIdleTimeout: null, persistentTimeout: 86400, maxKeepAlive: 0 };
