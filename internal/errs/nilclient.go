package errs

import "fmt"

// NilClient is the cause every package gives for a nil *clientv3.Client,
// wrapped with the package and the operation like any other error:
// `kv: new store "p": invalid argument: nil *clientv3.Client; ...`. It
// matches InvalidArgument.
var NilClient = fmt.Errorf("%w: nil *clientv3.Client; pass the client from coordkit.Connect (or an embedded node's Client)", InvalidArgument)
