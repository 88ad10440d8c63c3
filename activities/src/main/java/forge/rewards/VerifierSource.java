package forge.rewards;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;

/** A {@link Verifier} as a reward source: one completion at a time, a failure costing that completion alone. */
final class VerifierSource implements RewardSource {
    private static final Logger log = LoggerFactory.getLogger(VerifierSource.class);
    /** Failures logged in full per source; the rest only counted, so a broken checker cannot flood the log. */
    private static final int LOGGED = 3;

    private final String name;
    private final double weight;
    private final Verifier verifier;
    private final String field;
    private final double onError;
    private long failures;

    VerifierSource(String name, double weight, Verifier verifier, String field, double onError) {
        this.name = name;
        this.weight = weight;
        this.verifier = verifier;
        this.field = field;
        this.onError = onError;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public double weight() {
        return weight;
    }

    @Override
    public double[] score(List<Completion> completions, ErrorCount errors) {
        double[] out = new double[completions.size()];
        for (int i = 0; i < out.length; i++) {
            Completion c = completions.get(i);
            String reference = field == null ? null : c.prompt().field(field);
            try {
                double r = verifier.score(c.prompt(), c.reply(), reference);
                if (!Double.isFinite(r)) {
                    throw new IllegalStateException("returned " + r);
                }
                out[i] = r;
            } catch (RuntimeException e) {
                out[i] = onError;
                errors.add();
                if (failures++ < LOGGED) {
                    log.warn("reward source {} failed on the reply \"{}\" to \"{}\" and gave it {} (on_error): {}",
                            name, c.reply(), c.prompt().lastUserTurn(), onError, e.toString());
                }
            }
        }
        return out;
    }
}
