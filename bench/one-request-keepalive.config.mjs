// bench/cpu-per-request.ts's listener-close-each target: every connection closed after its first
// response (Connection: close), so each request pays a connection's setup and close.
export default { maxKeepAlive: 1 };
