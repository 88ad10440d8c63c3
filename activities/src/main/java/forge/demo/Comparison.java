package forge.demo;

/** Two responses to one prompt; the hidden rule scores {@code chosen} strictly higher. */
public record Comparison(String prompt, String chosen, String rejected) {
}
