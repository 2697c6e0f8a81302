// Used by bench/http.ts for the "maxKeepAlive 0" row: the same server with no keep-alive cap.
export default { maxKeepAlive: 0 };
