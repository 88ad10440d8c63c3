package forge.train;

import forge.errors.BadInputException;

/** @param interval steps between validation runs; @param batches validation batches per run */
public record EvalSpec(int interval, int batches) {
    public EvalSpec {
        if (interval <= 0) throw BadInputException.field("eval.interval", "must be > 0, got " + interval);
        if (batches <= 0) throw BadInputException.field("eval.batches", "must be > 0, got " + batches);
    }
}
