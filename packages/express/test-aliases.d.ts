// Express 4 and Koa 2 are installed under aliases so both majors are tested side by side.
declare module 'express4' {
  import express from 'express';
  export default express;
}
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
