// cpu-per-request's rack-w1 under callgrind: a worker booting and serving there runs 20-50 times
// slower, past the default workerBootTimeout and workerTimeout (60 s), which killed it unbooted.
export default { workerBootTimeout: 900, workerTimeout: 900 };
