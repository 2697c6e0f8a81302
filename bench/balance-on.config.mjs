export default { balanceBusyWorkers: true };
