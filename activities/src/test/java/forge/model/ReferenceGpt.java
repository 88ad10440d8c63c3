package forge.model;

import forge.tensor.HostTensor;

import java.util.Map;

/**
 * GPT-2's forward pass written out in plain Java doubles from HF-named weights, as transformers' modeling_gpt2
 * computes it (Conv1D y = x·W + b, gelu_new, tied head). The engine model must agree with it.
 */
final class ReferenceGpt {
    private final GptConfig c;
    private final Map<String, HostTensor> w;

    ReferenceGpt(GptConfig c, Map<String, HostTensor> weights) {
        this.c = c;
        this.w = weights;
    }

    private float[] p(String name) {
        HostTensor t = w.get(name);
        return t == null ? null : t.toFloatArray();
    }

    /** logits (T, V) for one sequence. */
    double[][] forward(int[] tokens) {
        int t = tokens.length;
        int e = c.nEmbd();
        float[] wte = p("wte.weight");
        float[] wpe = p("wpe.weight");
        double[][] x = new double[t][e];
        for (int i = 0; i < t; i++) {
            for (int j = 0; j < e; j++) {
                x[i][j] = wte[tokens[i] * e + j] + wpe[i * e + j];
            }
        }
        for (int l = 0; l < c.nLayer(); l++) {
            String pre = "h." + l + ".";
            double[][] a = attention(layerNorm(x, pre + "ln_1"), pre);
            add(x, a);
            double[][] hdn = linear(layerNorm(x, pre + "ln_2"), pre + "mlp.c_fc", e, 4 * e);
            for (double[] row : hdn) {
                for (int j = 0; j < row.length; j++) {
                    double v = row[j];
                    row[j] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
                }
            }
            add(x, linear(hdn, pre + "mlp.c_proj", 4 * e, e));
        }
        x = layerNorm(x, "ln_f");
        double[][] logits = new double[t][c.vocabSize()];
        for (int i = 0; i < t; i++) {
            for (int v = 0; v < c.vocabSize(); v++) {
                double s = 0;
                for (int j = 0; j < e; j++) {
                    s += x[i][j] * wte[v * e + j];
                }
                logits[i][v] = s;
            }
        }
        return logits;
    }

    private double[][] attention(double[][] x, String pre) {
        int t = x.length;
        int e = c.nEmbd();
        int hs = c.headSize();
        double[][] qkv = linear(x, pre + "attn.c_attn", e, 3 * e);
        double[][] y = new double[t][e];
        for (int h = 0; h < c.nHead(); h++) {
            for (int i = 0; i < t; i++) {
                double[] s = new double[i + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    double d = 0;
                    for (int k = 0; k < hs; k++) {
                        d += qkv[i][h * hs + k] * qkv[j][e + h * hs + k];
                    }
                    s[j] = d / Math.sqrt(hs);
                    max = Math.max(max, s[j]);
                }
                double z = 0;
                for (int j = 0; j <= i; j++) {
                    s[j] = Math.exp(s[j] - max);
                    z += s[j];
                }
                for (int j = 0; j <= i; j++) {
                    for (int k = 0; k < hs; k++) {
                        y[i][h * hs + k] += s[j] / z * qkv[j][2 * e + h * hs + k];
                    }
                }
            }
        }
        return linear(y, pre + "attn.c_proj", e, e);
    }

    private double[][] linear(double[][] x, String name, int in, int out) {
        float[] wt = p(name + ".weight");
        float[] b = p(name + ".bias");
        double[][] y = new double[x.length][out];
        for (int i = 0; i < x.length; i++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int k = 0; k < in; k++) {
                    s += x[i][k] * wt[k * out + o];
                }
                y[i][o] = s;
            }
        }
        return y;
    }

    private double[][] layerNorm(double[][] x, String name) {
        float[] g = p(name + ".weight");
        float[] b = p(name + ".bias");
        double[][] y = new double[x.length][];
        for (int i = 0; i < x.length; i++) {
            double mean = 0;
            for (double v : x[i]) {
                mean += v;
            }
            mean /= x[i].length;
            double var = 0;
            for (double v : x[i]) {
                var += (v - mean) * (v - mean);
            }
            var /= x[i].length;
            y[i] = new double[x[i].length];
            for (int j = 0; j < x[i].length; j++) {
                y[i][j] = (x[i][j] - mean) / Math.sqrt(var + 1e-5) * g[j] + (b == null ? 0 : b[j]);
            }
        }
        return y;
    }

    private static void add(double[][] x, double[][] d) {
        for (int i = 0; i < x.length; i++) {
            for (int j = 0; j < x[i].length; j++) {
                x[i][j] += d[i][j];
            }
        }
    }
}
