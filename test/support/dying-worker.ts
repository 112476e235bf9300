// A worker thread that dies soon after it starts, by an uncaught error (as a crash would end it): for the code that
// must carry on without the worker it replaces (wal-checkpointer.test.ts).
setTimeout(() => {
  throw new Error('this worker dies on purpose');
}, 100);
