package forge.demo;

import java.util.List;

/** Responses to one prompt, best first, with strictly falling hidden-rule scores. */
public record RankedList(String prompt, List<String> responses) {
    public RankedList {
        responses = List.copyOf(responses);
    }
}
