package forge.stage.sft;

import forge.demo.DemoWorld;
import forge.demo.SftExample;
import forge.demo.Split;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The demo world's ground-truth score for SFT: the fraction of held-out questions whose response claims the right
 * answer ({@link DemoWorld#correct}: the last number in the response, digits or words, equals the answer).
 */
public final class TaskAccuracy {
    private TaskAccuracy() {
    }

    /** The first {@code count} held-out questions of the world; the same list before and after training. */
    public static List<String> heldOutPrompts(DemoWorld world, int count) {
        List<String> out = new ArrayList<>(count);
        for (SftExample e : world.sftExamples(count, Split.HELD_OUT)) {
            out.add(e.prompt());
        }
        return out;
    }

    /** @param respond the model: a prompt to its reply text (e.g. generate, then {@link ChatEncoder#reply}) */
    public static double measure(DemoWorld world, List<String> prompts, Function<String, String> respond) {
        return measureBatched(world, prompts, batch -> {
            List<String> out = new ArrayList<>(batch.size());
            for (String p : batch) {
                out.add(respond.apply(p));
            }
            return out;
        });
    }

    /** For batched generation: {@code respond} gets all prompts and must return one reply per prompt, in order. */
    public static double measureBatched(DemoWorld world, List<String> prompts,
                                        Function<List<String>, List<String>> respond) {
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException("no prompts to measure accuracy on");
        }
        List<String> replies = respond.apply(List.copyOf(prompts));
        if (replies.size() != prompts.size()) {
            throw new IllegalStateException("got " + replies.size() + " replies for " + prompts.size() + " prompts");
        }
        int correct = 0;
        for (int i = 0; i < prompts.size(); i++) {
            if (world.correct(prompts.get(i), replies.get(i))) {
                correct++;
            }
        }
        return (double) correct / prompts.size();
    }
}
