// Registers every ONNX op handler (each file calls defineOps at import).
import './elementwise.js';
import './shape.js';
import './reduce.js';
import './nn.js';
import './conv.js';
import './resize.js';
import './recurrent.js';
import './control.js';
import './activations.js';
import './misc.js';
import './attention.js';
import './loss.js';
import './quantize.js';
import './gather-nd.js';
import './einsum.js';
import './sort.js';
import './data-dependent.js';
