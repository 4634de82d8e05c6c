package io.flinkrag.mongo;

import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.exception.MongoServerError;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.lucene.index.VectorSimilarityFunction;

/**
 * A {@code vectorSearch} index definition, checked the way Atlas checks it: a {@code fields} array
 * of {@code type: "vector"} entries (path, numDimensions, similarity, optional quantization) and
 * {@code type: "filter"} entries (path).
 */
final class IndexDefinition {
  /** Atlas allows 8192; Lucene 9's HNSW codec stops at 1024 dimensions. */
  static final int MAX_DIMENSIONS = 1024;

  static final int BAD_VALUE = 2;

  /** One vector field. */
  record VectorField(String path, int dimensions, String similarity, String quantization) {
    /**
     * Lucene's function for the field. Cosine vectors are stored and queried normalized (see
     * {@link #normalizes()}) and compared by dot product: Lucene scores both as (1 + x) / 2, and a
     * dot product costs a third of a cosine's arithmetic (Java 17 has no SIMD for Lucene), which
     * is most of an HNSW build's time.
     */
    VectorSimilarityFunction function() {
      switch (similarity) {
        case "euclidean":
          return VectorSimilarityFunction.EUCLIDEAN;
        default:
          return VectorSimilarityFunction.DOT_PRODUCT;
      }
    }

    /** Whether vectors are scaled to unit length before they reach Lucene (cosine fields). */
    boolean normalizes() {
      return !"euclidean".equals(similarity) && !"dotProduct".equals(similarity);
    }

    /** Lucene's score on Atlas's scale: the same for cosine and dotProduct, not euclidean. */
    double atlasScore(float luceneScore) {
      if (!"euclidean".equals(similarity)) {
        return luceneScore;
      }
      // Lucene scores euclidean as 1/(1+d²); Atlas as 1/(1+d).
      double squared = Math.max(0.0, 1.0 / luceneScore - 1.0);
      return 1.0 / (1.0 + Math.sqrt(squared));
    }
  }

  final Document source;
  final Map<String, VectorField> vectors;
  final List<String> filters;

  private IndexDefinition(Document source, Map<String, VectorField> vectors, List<String> filters) {
    this.source = source;
    this.vectors = vectors;
    this.filters = filters;
  }

  static IndexDefinition parse(Object raw) {
    if (!(raw instanceof Document)) {
      throw invalid("'definition' must be a document");
    }
    Document definition = (Document) raw;
    Object fields = definition.get("fields");
    if (!(fields instanceof List) || ((List<?>) fields).isEmpty()) {
      throw invalid("'fields' must be a non-empty array of vector and filter fields");
    }
    Map<String, VectorField> vectors = new LinkedHashMap<>();
    List<String> filters = new ArrayList<>();
    for (Object entry : (List<?>) fields) {
      if (!(entry instanceof Document)) {
        throw invalid("each entry of 'fields' must be a document");
      }
      Document field = (Document) entry;
      Object path = field.get("path");
      if (!(path instanceof String) || ((String) path).isBlank()) {
        throw invalid("every field needs a 'path' string");
      }
      String type = String.valueOf(field.get("type"));
      if ("vector".equals(type)) {
        vectors.put((String) path, vectorField((String) path, field));
      } else if ("filter".equals(type)) {
        filters.add((String) path);
      } else {
        throw invalid("field type '" + type + "' is not one of vector, filter");
      }
    }
    if (vectors.isEmpty()) {
      throw invalid("the definition needs at least one field of type 'vector'");
    }
    return new IndexDefinition(definition, vectors, filters);
  }

  private static VectorField vectorField(String path, Document field) {
    Object dims = field.get("numDimensions");
    if (!(dims instanceof Number)) {
      throw invalid("vector field '" + path + "' needs 'numDimensions'");
    }
    int dimensions = ((Number) dims).intValue();
    if (dimensions < 1 || dimensions > 8192) {
      throw invalid("numDimensions must be between 1 and 8192, got " + dimensions);
    }
    if (dimensions > MAX_DIMENSIONS) {
      throw invalid(
          "numDimensions "
              + dimensions
              + " is more than the local stand-in indexes ("
              + MAX_DIMENSIONS
              + "); use Atlas for larger vectors");
    }
    String similarity = String.valueOf(field.get("similarity"));
    String canonical = null;
    for (String known : List.of("cosine", "euclidean", "dotProduct")) {
      if (known.toLowerCase(Locale.ROOT).equals(similarity.toLowerCase(Locale.ROOT))) {
        canonical = known;
      }
    }
    if (canonical == null) {
      throw invalid("similarity must be one of cosine, euclidean, dotProduct");
    }
    Object quantization = field.getOrDefault("quantization", "none");
    if (!List.of("none", "scalar", "binary").contains(String.valueOf(quantization))) {
      throw invalid("quantization must be one of none, scalar, binary");
    }
    return new VectorField(path, dimensions, canonical, String.valueOf(quantization));
  }

  static MongoServerError invalid(String message) {
    return new MongoServerError(BAD_VALUE, "BadValue", "Invalid index definition: " + message);
  }
}
