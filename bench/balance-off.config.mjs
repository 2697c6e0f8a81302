export default { balanceBusyWorkers: false };
