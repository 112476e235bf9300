// The converter lives on the ground floor (src/core/html-to-plain.ts) since the search index (src/storage) turns
// HTML bodies into text with it too; mail code keeps importing it from here.
export * from '../../core/html-to-plain.js';
