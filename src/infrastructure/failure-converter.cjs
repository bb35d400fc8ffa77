// Loaded by path (the SDK requires it in the worker and bundles it into workflow code), so plain CommonJS.
// Failure messages and stack traces move into an encoded payload, which the payload codec then encrypts.
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
