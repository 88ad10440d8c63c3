package forge.demo;

/** A prompt and the response the model should learn to give. */
public record SftExample(String prompt, String response) {
}
