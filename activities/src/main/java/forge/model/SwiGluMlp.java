package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;
import forge.tensor.TorchOps;

import java.util.LinkedHashMap;
import java.util.Map;

/** The Llama family's gated MLP (HF LlamaMLP): down_proj(silu(gate_proj(x)) · up_proj(x)). */
final class SwiGluMlp implements FeedForward {
    private final Linear gate;
    private final Linear up;
    private final Linear down;

    SwiGluMlp(Linear gate, Linear up, Linear down) {
        this.gate = gate;
        this.up = up;
        this.down = down;
    }

    @Override
    public NDArray forward(NDArray x, Pass p) {
        NDArray g = gate.forward(x, p.precision());                                  // (B*T, I)
        NDArray silu = TorchOps.available() ? TorchOps.silu(g) : Activation.sigmoid(g).mul(g);
        NDArray h = silu.mul(up.forward(x, p.precision()));                          // silu(g)·up: (B*T, I)
        return down.forward(h, p.precision());                                       // (B*T, C)
    }

    @Override
    public Map<String, Linear> linears() {
        Map<String, Linear> m = new LinkedHashMap<>();
        m.put("mlp.gate_proj", gate);
        m.put("mlp.up_proj", up);
        m.put("mlp.down_proj", down);
        return m;
    }
}
