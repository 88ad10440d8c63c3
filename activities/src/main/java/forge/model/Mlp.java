package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Activation;
import forge.tensor.EngineArrays;
import forge.tensor.TorchOps;

import java.util.LinkedHashMap;
import java.util.Map;

/** GPT-2's MLP: c_fc to 4C, GPT-2's tanh GELU ({@code gelu_new}), c_proj back to C, dropout. */
final class Mlp implements FeedForward {
    /** gelu_new(x) = 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) = x·sigmoid(x·(A + B·x²)). */
    private static final double GELU_A = 2 * Math.sqrt(2 / Math.PI);
    private static final double GELU_B = GELU_A * 0.044715;

    private final Linear cFc;
    private final Linear cProj;
    private final NDArray geluA;            // constants as engine scalars (see EngineArrays)
    private final NDArray geluB;
    private final double dropout;

    Mlp(Linear cFc, Linear cProj, double dropout, NDManager m) {
        this.cFc = cFc;
        this.cProj = cProj;
        this.geluA = Gpt.keep(EngineArrays.scalar(m, GELU_A));
        this.geluB = Gpt.keep(EngineArrays.scalar(m, GELU_B));
        this.dropout = dropout;
    }

    @Override
    public NDArray forward(NDArray x, Pass p) {
        NDArray u = cFc.forward(x, p.precision());                                   // (B*T, 4C)
        u = TorchOps.available() ? TorchOps.geluTanh(u)                              // gelu_new
                : Activation.sigmoid(u.square().mul(geluB).add(geluA).mul(u)).mul(u);
        return Dropouts.apply(cProj.forward(u, p.precision()), dropout, p.training()); // (B*T, C)
    }

    @Override
    public Map<String, Linear> linears() {
        Map<String, Linear> m = new LinkedHashMap<>();
        m.put("mlp.c_fc", cFc);
        m.put("mlp.c_proj", cProj);
        return m;
    }
}
