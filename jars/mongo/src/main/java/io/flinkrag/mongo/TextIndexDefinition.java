package io.flinkrag.mongo;

import de.bwaldvogel.mongo.bson.Document;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An Atlas Search ({@code type: "search"}) index definition: {@code mappings.dynamic} (every
 * string, number and boolean field indexed by its type) and/or {@code mappings.fields}, each a
 * field type or an array of them. The stand-in knows the types hybrid search needs: {@code
 * string} (analyzed by the standard analyzer, scored by BM25, as Atlas's default {@code
 * lucene.standard}), {@code token} (exact, for {@code equals}), {@code number} and {@code
 * boolean}; others are refused with what to use instead.
 */
final class TextIndexDefinition {
  static final Set<String> TYPES = Set.of("string", "token", "number", "boolean");
  private static final Set<String> KEYS = Set.of("mappings", "analyzer", "searchAnalyzer", "storedSource");

  final Document source;
  final boolean dynamic;
  /** Declared paths and the types each is indexed as. */
  final Map<String, Set<String>> fields;

  private TextIndexDefinition(Document source, boolean dynamic, Map<String, Set<String>> fields) {
    this.source = source;
    this.dynamic = dynamic;
    this.fields = fields;
  }

  static TextIndexDefinition parse(Object raw) {
    if (!(raw instanceof Document)) {
      throw IndexDefinition.invalid("'definition' must be a document");
    }
    Document definition = (Document) raw;
    for (String key : definition.keySet()) {
      if (!KEYS.contains(key)) {
        throw IndexDefinition.invalid("\"" + key + "\" is not a search index option (the stand-in knows "
            + String.join(", ", KEYS) + ")");
      }
    }
    for (String analyzer : List.of("analyzer", "searchAnalyzer")) {
      Object value = definition.get(analyzer);
      if (value != null && !"lucene.standard".equals(value)) {
        throw IndexDefinition.invalid(analyzer + " '" + value
            + "' is not available on the local stand-in; it has lucene.standard only");
      }
    }
    Object rawMappings = definition.get("mappings");
    if (!(rawMappings instanceof Document)) {
      throw IndexDefinition.invalid("a search index needs 'mappings' (a document with 'dynamic' and/or 'fields')");
    }
    Document mappings = (Document) rawMappings;
    Object rawDynamic = mappings.getOrDefault("dynamic", false);
    if (!(rawDynamic instanceof Boolean)) {
      throw IndexDefinition.invalid("'mappings.dynamic' must be true or false");
    }
    Map<String, Set<String>> fields = new LinkedHashMap<>();
    Object rawFields = mappings.getOrDefault("fields", new Document());
    if (!(rawFields instanceof Document)) {
      throw IndexDefinition.invalid("'mappings.fields' must be a document of field name to type");
    }
    for (Map.Entry<String, Object> entry : ((Document) rawFields).entrySet()) {
      fields.put(entry.getKey(), types(entry.getKey(), entry.getValue()));
    }
    if (!(Boolean) rawDynamic && fields.isEmpty()) {
      throw IndexDefinition.invalid("'mappings' needs 'dynamic': true or at least one entry in 'fields'");
    }
    return new TextIndexDefinition(definition, (Boolean) rawDynamic, fields);
  }

  private static Set<String> types(String path, Object raw) {
    List<?> entries = raw instanceof List ? (List<?>) raw : List.of(raw);
    if (entries.isEmpty()) {
      throw IndexDefinition.invalid("field '" + path + "' needs a type");
    }
    java.util.LinkedHashSet<String> types = new java.util.LinkedHashSet<>();
    for (Object entry : entries) {
      Object type = entry instanceof Document ? ((Document) entry).get("type") : null;
      if (!(type instanceof String)) {
        throw IndexDefinition.invalid("field '" + path + "' needs {type: ...}");
      }
      if (!TYPES.contains(type)) {
        throw IndexDefinition.invalid("field type '" + type + "' of '" + path
            + "' is not available on the local stand-in (it has string, token, number, boolean)");
      }
      types.add((String) type);
    }
    return types;
  }

  /** The types `path` is indexed as, for a value of the given kind; empty when it is not. */
  Set<String> typesOf(String path, Object value) {
    Set<String> declared = fields.get(path);
    if (declared != null) {
      return declared;
    }
    if (!dynamic) {
      return Set.of();
    }
    if (value instanceof String) {
      return Set.of("string");
    }
    if (value instanceof Number) {
      return Set.of("number");
    }
    if (value instanceof Boolean) {
      return Set.of("boolean");
    }
    return Set.of();
  }
}
