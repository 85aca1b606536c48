// `express4` is Express 4 installed under an alias to prove both majors work; it has no types of
// its own, and the surface these tests use is the same in 4 and 5.
declare module 'express4' {
  import express from 'express';
  export default express;
}
