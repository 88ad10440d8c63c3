package forge.stage.sft;

import forge.chat.Conversation;
import forge.demo.DemoWorld;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EvaluationTest {
    static List<Conversation> conversations(int n) {
        List<Conversation> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(Conversation.of("question " + i, "answer " + i));
        }
        return out;
    }

    @Test
    void splitIsDeterministicDisjointAndKeepsOrder() {
        List<Conversation> all = conversations(100);
        TrainValSplit s = TrainValSplit.of(all, 0.1, 3);
        assertEquals(s, TrainValSplit.of(new ArrayList<>(all), 0.1, 3));
        assertEquals(90, s.train().size());
        assertEquals(10, s.validation().size());
        Set<Conversation> union = new HashSet<>(s.train());
        union.addAll(s.validation());
        assertEquals(100, union.size());
        assertEquals(s.train(), all.stream().filter(s.train()::contains).toList());
        assertNotEquals(s.validation(), TrainValSplit.of(all, 0.1, 4).validation());
        assertEquals(1, TrainValSplit.of(conversations(3), 0.01, 3).validation().size());
        assertEquals(0, TrainValSplit.of(conversations(3), 0, 3).validation().size());
        assertThrows(RuntimeException.class, () -> TrainValSplit.of(all, 1.0, 3));
    }

    @Test
    void taskAccuracyIsTheFractionTheWorldAccepts() {
        DemoWorld w = new DemoWorld(7);
        List<String> prompts = TaskAccuracy.heldOutPrompts(w, 20);
        assertEquals(20, prompts.size());
        assertEquals(1.0, TaskAccuracy.measure(w, prompts, p -> "The answer is " + w.answer(p).getAsInt() + "."));
        assertEquals(0.0, TaskAccuracy.measure(w, prompts, p -> "I do not know."));
        double half = TaskAccuracy.measureBatched(w, prompts, ps -> {
            List<String> out = new ArrayList<>();
            for (int i = 0; i < ps.size(); i++) {
                out.add(i % 2 == 0 ? String.valueOf(w.answer(ps.get(i)).getAsInt()) : "nope");
            }
            return out;
        });
        assertEquals(0.5, half);
        assertTrue(prompts.stream().allMatch(p -> w.splitOf(p) == forge.demo.Split.HELD_OUT));
    }
}
